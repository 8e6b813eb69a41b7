"""The web UI's event handlers: chat, filters, uploads, library, article view, saved chats.

Presentation only: everything they need from the index comes from :mod:`rag`.
"""

from __future__ import annotations

import contextlib
import html
import json
import queue
import threading
import time
import traceback
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import gradio as gr

import rag
from rag.config import Settings
from rag.retrieval import MAX_QUESTION_CHARS
from rag.uploads import UploadError, safe_filename, save_upload, uploads_dir

from . import render

# LLM answers can take many seconds; capping them leaves chat slots free for extractive users.
LLM_CONCURRENCY = 4
LIBRARY_PAGE = 15
SAVED_CHATS = 30  # past chats kept in the browser

Message = dict[str, str]
Turn = tuple[str, str]


def parse_history(raw: str | list[Any] | None) -> list[Any]:
    """History for the API: JSON (pairs or role/content messages), or already a list."""
    if raw is None or raw == "":
        return []
    if isinstance(raw, list):
        return raw
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise gr.Error(f"history must be JSON, e.g. [[question, answer]]: {exc}") from None
    if not isinstance(value, list):
        raise gr.Error("history must be a JSON list of [question, answer] pairs or messages")
    return value


def build_filters(
    sources: Sequence[str] | None,
    since: str | None,
    until: str | None,
    docs: Sequence[str] | None = None,
) -> dict[str, Any] | None:
    """The filters dict rag expects; a date that is not one is a gr.Error (never ignored)."""
    filters: dict[str, Any] = {}
    if sources:
        filters["source"] = list(sources)
    for key, label, value in (("since", "From", since), ("until", "Until", until)):
        parsed, error = render.parse_day(value, label)
        if error:
            raise gr.Error(error)
        if parsed:
            filters[key] = parsed
    if docs:
        filters["doc_id"] = list(docs)
    return filters or None


def as_turns(raw: Any) -> list[Turn]:
    """(question, answer) pairs from a State or the browser's storage (lists after JSON)."""
    return [(str(t[0]), str(t[1])) for t in raw or [] if len(t) == 2]


def content_of(message: Message) -> str:
    """A chat message's HTML, whichever shape Gradio hands it back in (a string or parts)."""
    value: Any = message.get("content", "")
    if isinstance(value, list):
        return "".join(str(p.get("text", "")) for p in value if isinstance(p, dict))
    return str(value)


def question_of(message: Message) -> str:
    """The question a user message shows (it is stored as escaped HTML)."""
    return html.unescape(content_of(message).replace("<br>", "\n"))


def _chat_title(chat: list[Message]) -> str:
    first = next((question_of(m) for m in chat if m.get("role") == "user"), "")
    return (first[:60] + "…") if len(first) > 60 else first or "Empty chat"


class Handlers:
    """The UI's event handlers, bound to one Settings value."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.llm_slots = threading.BoundedSemaphore(LLM_CONCURRENCY)
        self._busy: set[str] = set()  # sessions with an answer in flight
        self._busy_lock = threading.Lock()

    @contextlib.contextmanager
    def _slot(self, answerer: str | None) -> Iterator[None]:
        """Hold an LLM slot while an LLM answers; extractive answers need none."""
        if (answerer or self.settings.answerer) != "llm":
            yield
            return
        with self.llm_slots:
            yield

    # -- chat ---------------------------------------------------------------------------------

    def accept(
        self,
        question: str,
        sources: list[str] | None,
        since: str | None,
        until: str | None,
        docs: list[str] | None,
        request: gr.Request,
    ) -> str:
        """Check a question before it is sent: on any problem the text stays in the box."""
        question = (question or "").strip()
        if not question:
            raise gr.Error("Type a question first.")
        if len(question) > MAX_QUESTION_CHARS:
            raise gr.Error(
                f"The question is {len(question):,} characters; the limit is "
                f"{MAX_QUESTION_CHARS:,}. Shorten it and send again (your text is kept)."
            )
        build_filters(sources, since, until, docs)  # a bad date is an error, not ignored
        with self._busy_lock:
            if getattr(request, "session_hash", None) in self._busy:
                raise gr.Error("An answer is still coming: wait for it or press Stop.")
        return question

    def options(
        self,
        k: float | None,
        answerer: str | None,
        sources: list[str] | None,
        since: str | None,
        until: str | None,
        docs: list[str] | None = None,
    ) -> dict[str, Any]:
        """The settings panel as keyword arguments for rag.stream."""
        return {
            "k": int(k) if k else None,
            # The radio is locked without RAG_LLM, but a crafted request could still ask.
            "answerer": answerer if answerer == "llm" and self.settings.llm else "extractive",
            "filters": build_filters(sources, since, until, docs),
        }

    def respond(
        self,
        question: str,
        chat: list[Message],
        turns: list[Turn],
        k: float | None,
        answerer: str | None,
        sources: list[str] | None,
        since: str | None,
        until: str | None,
        docs: list[str] | None = None,
        request: gr.Request | None = None,
    ) -> Iterator[tuple[list[Message], list[Turn]]]:
        """Stream one answer into the chat: its stage, its text, then its sources.

        It never writes the question box, so whatever is typed meanwhile stays.
        """
        question = (question or "").strip()
        chat, turns = list(chat or []), as_turns(turns)
        if not question:
            yield chat, turns
            return
        session = getattr(request, "session_hash", None) or uuid.uuid4().hex
        turn = len(chat) // 2 + 1
        chat += [
            {"role": "user", "content": render.user_html(question)},
            {"role": "assistant", "content": render.pending_html("", self._searching())},
        ]
        with self._busy_lock:
            self._busy.add(session)
        try:
            yield chat, turns
            try:
                options = self.options(k, answerer, sources, since, until, docs)
                final = None
                for stage, text, answer in self._run(question, turns, options):
                    if answer is not None:
                        final = answer
                        break
                    chat[-1] = {"role": "assistant", "content": render.pending_html(text, stage)}
                    yield chat, turns
                if final is None:
                    raise rag.RagError("the answerer stopped without an answer; please ask again")
            except Exception as exc:  # any failure becomes a message, never a frozen spinner
                if not isinstance(exc, (rag.RagError, gr.Error)):
                    traceback.print_exc()
                chat[-1] = {"role": "assistant", "content": render.error_html(exc)}
                yield chat, turns
                return
            chat[-1] = {"role": "assistant", "content": render.answer_html(final, turn)}
            yield chat, [*turns, (question, final.text)]
        finally:
            with self._busy_lock:
                self._busy.discard(session)

    def _searching(self) -> str:
        try:
            count = int(rag.stats(settings=self.settings).get("articles") or 0)
        except rag.RagError:
            return "Searching…"
        return f"Searching {render.plural(count, 'article')}…"

    def _run(
        self, question: str, turns: list[Turn], options: dict[str, Any]
    ) -> Iterator[tuple[str, str, rag.Answer | None]]:
        """(stage, text so far, final Answer or None) as the answer is worked out.

        The answer is worked out in a thread so the stage can be shown while it runs; when
        the page stops the answer (Stop, a closed tab) the thread stops at its next piece.
        """
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop = threading.Event()

        def work() -> None:
            try:
                with self._slot(options["answerer"]):
                    pieces = rag.stream(
                        question,
                        history=list(turns),
                        settings=self.settings,
                        progress=lambda stage: events.put(("stage", stage)),
                        **options,
                    )
                    for item in pieces:
                        if stop.is_set():
                            return
                        events.put(("answer" if isinstance(item, rag.Answer) else "text", item))
            except BaseException as exc:
                events.put(("error", exc))
            finally:
                events.put(("end", None))

        threading.Thread(target=work, name="rag-answer", daemon=True).start()
        stage, text = self._searching(), ""
        try:
            while True:
                kind, value = events.get()
                if kind == "stage":
                    stage = str(value)
                elif kind == "text":
                    text += str(value)
                    stage = ""
                elif kind == "answer":
                    yield stage, text, value
                    return
                elif kind == "error":
                    raise value
                else:
                    return
                yield stage, text, None
        finally:
            stop.set()

    @staticmethod
    def stopped(chat: list[Message]) -> list[Message]:
        """After Stop: the unfinished answer says it was stopped."""
        chat = list(chat or [])
        last = content_of(chat[-1]) if chat else ""
        if (
            chat
            and chat[-1].get("role") == "assistant"
            and ('class="stage"' in last or "answer-text pending" in last)
        ):
            chat[-1] = {"role": "assistant", "content": render.stopped_html("")}
        return chat

    @staticmethod
    def pop_last(chat: list[Message], turns: list[Turn]) -> tuple[str, list[Message], list[Turn]]:
        """Take back the last question and its answer: (the question, chat, turns)."""
        chat, turns = list(chat or []), as_turns(turns)
        while chat and chat[-1].get("role") != "user":
            chat.pop()
        if not chat:
            raise gr.Error("Nothing to take back yet.")
        question = question_of(chat.pop())
        if turns and turns[-1][0] == question:
            turns.pop()
        return question, chat, turns

    def edit_last(
        self, chat: list[Message], turns: list[Turn]
    ) -> tuple[str, list[Message], list[Turn]]:
        """The last question back in the box, its answer gone, to be changed and sent again."""
        return self.pop_last(chat, turns)

    # -- filters ------------------------------------------------------------------------------

    def show_filters(
        self,
        sources: list[str] | None,
        since: str | None,
        until: str | None,
        docs: list[str] | None,
    ) -> tuple[str, str, Any]:
        """The chips of the filters in force, the date errors, and the clear button."""
        errors: list[str] = []
        filters: dict[str, Any] = {"source": list(sources)} if sources else {}
        for key, label, value in (("since", "From", since), ("until", "Until", until)):
            parsed, error = render.parse_day(value, label)
            if error:  # shown, and not in force: only valid dates become chips
                errors.append(f'<p class="date-error" role="alert">{render.esc(error)}</p>')
            elif parsed:
                filters[key] = parsed
        if docs:
            filters["doc_id"] = list(docs)
        titles = self._titles(docs or [])
        chips = render.filter_chips(filters, titles)
        return chips, "".join(errors), gr.update(visible=bool(filters))

    def _titles(self, docs: Sequence[str]) -> dict[str, str]:
        titles = {}
        for d in docs:
            try:
                titles[d] = rag.get_article(d, settings=self.settings).title or d
            except rag.RagError:
                titles[d] = d
        return titles

    @staticmethod
    def clear_filters() -> tuple[Any, str, str, list[str], str, str, Any]:
        return gr.update(value=[]), "", "", [], "", "", gr.update(visible=False)

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
        result = render.ingest_report_html(report, rejected, folder, renamed, duplicates, error)
        choices = rag.outlets(settings=self.settings)
        return None, self.status(), result, gr.update(choices=choices)

    # -- status -------------------------------------------------------------------------------

    def status(self) -> str:
        try:
            return render.status_html(rag.stats(settings=self.settings))
        except rag.RagError as exc:
            return render.status_html(None, str(exc))

    def newest(self) -> str:
        page = rag.articles(page=1, page_size=1, settings=self.settings)
        return render.date_help(page.items[0].published if page.items else None)

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
            render.library_html(found),
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
        note = render.deletion_html(done) + "".join(
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
        return render.article_html(article, spans, where), gr.update(visible=True)

    @staticmethod
    def close_article() -> Any:
        return gr.update(visible=False)

    # -- saved chats (browser local storage) ----------------------------------------------------

    @staticmethod
    def save_chat(
        chat: list[Message], turns: list[Turn], saved: dict[str, Any] | None, current: str
    ) -> tuple[dict[str, Any], Any, str]:
        """Keep this chat in the browser, most recent first, so it survives a reload."""
        saved = dict(saved or {})
        chats = [c for c in saved.get("chats", []) if isinstance(c, dict)]
        current = current or uuid.uuid4().hex[:12]
        chats = [c for c in chats if c.get("id") != current]
        if chat:
            entry = {
                "id": current,
                "title": _chat_title(chat),
                "at": time.time(),
                "chat": chat,
                "turns": [list(t) for t in turns or []],
            }
            chats.insert(0, entry)
        saved = {"current": current, "chats": chats[:SAVED_CHATS]}
        return saved, _past_choices(saved, current), current

    @staticmethod
    def restore(saved: dict[str, Any] | None) -> tuple[list[Message], list[Turn], str, Any]:
        """On page load: the chat that was open, and the list of past chats."""
        saved = saved or {}
        current = str(saved.get("current") or "")
        entry = next((c for c in saved.get("chats", []) if c.get("id") == current), None)
        if entry is None:
            return [], [], uuid.uuid4().hex[:12], _past_choices(saved, "")
        turns = as_turns(entry.get("turns"))
        return list(entry.get("chat", [])), turns, current, _past_choices(saved, current)

    @staticmethod
    def switch_chat(
        chosen: str | None, saved: dict[str, Any] | None
    ) -> tuple[list[Message], list[Turn], str, dict[str, Any]]:
        saved = dict(saved or {})
        entry = next((c for c in saved.get("chats", []) if c.get("id") == chosen), None)
        if entry is None:
            raise gr.Error("That chat is no longer saved in this browser.")
        saved["current"] = chosen
        turns = as_turns(entry.get("turns"))
        return list(entry.get("chat", [])), turns, str(chosen), saved

    @staticmethod
    def new_chat(saved: dict[str, Any] | None) -> tuple[list[Message], list[Turn], str, Any]:
        """Start over; the chat so far stays in the list of past chats."""
        current = uuid.uuid4().hex[:12]
        return [], [], current, _past_choices(saved or {}, "")

    @staticmethod
    def forget_chat(
        saved: dict[str, Any] | None, current: str
    ) -> tuple[list[Message], list[Turn], str, dict[str, Any], Any]:
        """The chatbot's trash button: this chat is gone, from the list too."""
        saved = dict(saved or {})
        saved["chats"] = [c for c in saved.get("chats", []) if c.get("id") != current]
        fresh = uuid.uuid4().hex[:12]
        saved["current"] = fresh
        return [], [], fresh, saved, _past_choices(saved, "")

    # -- the API for scripts --------------------------------------------------------------------

    def api_answer(self, question: str, history: str = "") -> tuple[str, dict[str, Any]]:
        """Answer a question from the articles.

        history: JSON list of [question, answer] pairs or {"role", "content"} messages.
        Returns the answer text (with markers [n]) and the whole answer as JSON: citations
        (n, title, source, published, url, quote, start, end, ...), refused, query, passages.
        """
        try:
            with self._slot(None):
                answer = rag.answer(
                    question, history=parse_history(history), settings=self.settings
                )
        except rag.RagError as exc:
            raise gr.Error(str(exc)) from None
        return answer.text, answer.to_dict()


def _span(text: str) -> tuple[int, int]:
    a, _, b = text.partition("-")
    try:
        return int(a), int(b)
    except ValueError:
        return 0, 0


def _past_choices(saved: dict[str, Any], current: str) -> Any:
    chats = [c for c in saved.get("chats", []) if isinstance(c, dict)]
    choices = [(str(c.get("title") or "Chat"), str(c.get("id"))) for c in chats]
    return gr.update(
        choices=choices, value=current if any(v == current for _, v in choices) else None
    )
