"""The web UI's event handlers: chat, filters, uploads, library, article view, saved chats.

Presentation only: everything they need from the index comes from :mod:`rag`.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import traceback
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import gradio as gr

import rag
from rag.config import Settings
from rag.retrieval import MAX_QUESTION_CHARS

from . import panels, render
from .chats import Message, Turn, as_turns, content_of, question_of

# LLM answers can take many seconds; capping them leaves chat slots free for extractive users.
LLM_CONCURRENCY = 4
# While nothing else happens, how often an answer waiting for the local model checks its place.
QUEUE_POLL_S = 0.5
WAITING = "Waiting for the model"


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
        parsed, error = panels.parse_day(value, label)
        if error:
            raise gr.Error(error)
        if parsed:
            filters[key] = parsed
    if docs:
        filters["doc_id"] = list(docs)
    return filters or None


def parse_as_of(as_of: str | None) -> str | None:
    """The "As of" setting as YYYY-MM-DD (None when empty); a date that is not one is a
    gr.Error, so the question is never answered as of some other day."""
    parsed, error = panels.parse_day(as_of, "As of")
    if error:
        raise gr.Error(error)
    return parsed or None


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
        as_of: str | None,
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
        parse_as_of(as_of)
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
        as_of: str | None = None,
    ) -> dict[str, Any]:
        """The settings panel as keyword arguments for rag.stream."""
        return {
            "k": int(k) if k else None,
            # The radio is locked without RAG_LLM, but a crafted request could still ask.
            # The LLM only when one is set; any other registered answerer as chosen.
            "answerer": "extractive" if answerer == "llm" and not self.settings.llm else answerer,
            "filters": build_filters(sources, since, until, docs),
            "as_of": parse_as_of(as_of),
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
        as_of: str | None = None,
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
                options = self.options(k, answerer, sources, since, until, docs, as_of)
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
            count = int(rag.stats(settings=self.settings, dates=False).get("articles") or 0)
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
        waits_for_model = options["answerer"] == "llm" and self.settings.llm == "local"

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

        worker = threading.Thread(target=work, name="rag-answer", daemon=True)
        worker.start()
        stage, text = self._searching(), ""
        try:
            while True:
                try:
                    kind, value = events.get(timeout=QUEUE_POLL_S if waits_for_model else None)
                except queue.Empty:
                    now = model_queue(worker.ident)
                    if not now and stage.startswith(WAITING):  # its turn came
                        now = "The model is writing…"
                    if now and now != stage:
                        stage = now
                        yield stage, text, None
                    continue
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
        as_of: str | None = None,
    ) -> tuple[str, str, Any]:
        """The chips of the filters in force (and the as-of day), the date errors, and the
        clear button."""
        errors: list[str] = []
        filters: dict[str, Any] = {"source": list(sources)} if sources else {}
        days = (("since", "From", since), ("until", "Until", until), ("as_of", "As of", as_of))
        for key, label, value in days:
            parsed, error = panels.parse_day(value, label)
            if error:  # shown, and not in force: only valid dates become chips
                errors.append(f'<p class="date-error" role="alert">{render.esc(error)}</p>')
            elif parsed:
                filters[key] = parsed
        if docs:
            filters["doc_id"] = list(docs)
        titles = self._titles(docs or [])
        chips = panels.filter_chips(filters, titles)
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
    def clear_filters() -> tuple[Any, str, str, list[str], str, str, str, Any]:
        return gr.update(value=[]), "", "", [], "", "", "", gr.update(visible=False)

    # -- the API for scripts --------------------------------------------------------------------

    def api_answer(
        self, question: str, history: str = "", as_of: str = ""
    ) -> tuple[str, dict[str, Any]]:
        """Answer a question from the articles.

        history: JSON list of [question, answer] pairs or {"role", "content"} messages.
        as_of: answer as on that day (YYYY-MM-DD): only articles published by then, and
        "this week", "yesterday"... counted from it (empty: today, no limit).
        Returns the answer text (with markers [n]) and the whole answer as JSON: citations
        (n, title, source, published, url, quote, start, end, ...), refused, query, passages.
        """
        try:
            with self._slot(None):
                answer = rag.answer(
                    question,
                    history=parse_history(history),
                    settings=self.settings,
                    as_of=parse_as_of(as_of),
                )
        except rag.RagError as exc:
            raise gr.Error(str(exc)) from None
        return answer.text, answer.to_dict()


def model_queue(thread: int | None) -> str:
    """ "Waiting for the model: 2 ahead" while ``thread`` waits its turn at the local model."""
    if thread is None:
        return ""
    from rag.local_llm import waiting_ahead

    ahead = waiting_ahead(thread)
    return f"{WAITING}: {ahead} ahead" if ahead else ""
