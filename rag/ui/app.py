"""The Gradio app: layout, wiring of events to handlers, launching.

Scripts can call the ``/answer`` endpoint::

    from gradio_client import Client
    text, answer = Client("http://127.0.0.1:7860/").predict(
        "Why was the launch's timing notable?", "[]", api_name="/answer"
    )
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
import threading
from importlib import resources
from typing import Any

import gradio as gr

import rag
from rag.config import Settings
from rag.loaders import SUPPORTED_SUFFIXES
from rag.retrieval import MAX_QUESTION_CHARS

from . import chats
from .handlers import Handlers
from .library import Library

EXAMPLES = (
    "Why was the launch's timing notable?",
    "How far did the missile fly?",
    "What did Blinken say about Russia?",
)

# Chats run in worker threads; 16 at once keeps 8+ simultaneous users answering without
# queueing, while staying well under Gradio's default pool of 40 threads.
CHAT_CONCURRENCY = 16
API_CONCURRENCY = 8

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# How the registered answerers are labelled (others by their name).
LABELS = {"extractive": "Extractive (quotes the articles, offline)", "llm": "LLM"}


def answerer_choices(settings: Settings) -> list[tuple[str, str]]:
    """(label, name) of every registered answerer; the LLM's label names its model."""
    from ..protocols import answerers

    labels = dict(LABELS)
    if settings.llm:
        labels["llm"] = (
            f"LLM ({'bundled local model' if settings.llm == 'local' else settings.llm})"
        )
    return [(labels.get(name, name), name) for name in answerers.names()]


DATE_HINT = "e.g. 2024-06-01, 01/06/2024 (day first) or 1 June 2024"


def asset(name: str) -> str:
    """A file shipped in rag/ui/assets (package data, so it is there when installed)."""
    return resources.files("rag.ui").joinpath("assets", name).read_text(encoding="utf-8")


def css() -> str:
    return asset("ui.css")


def head() -> str:
    script = asset("ui.js").replace("__MAX_QUESTION_CHARS__", str(MAX_QUESTION_CHARS))
    return f"<script>\n{script}\n</script>"


def bind_warning(host: str, auth: str) -> str | None:
    """A warning when the UI would be reachable from other machines without a password."""
    if host in LOOPBACK_HOSTS or parse_auth(auth):
        return None
    return (
        f"warning: the web UI listens on {host}, so anyone who can reach this machine can "
        "use it and add articles. Set RAG_AUTH=user:password to require a login, or "
        "RAG_HOST=127.0.0.1 to keep it local."
    )


def parse_auth(auth: str) -> tuple[str, str] | None:
    """``user:password`` as Gradio's auth pair; None when unset or malformed."""
    user, sep, password = (auth or "").partition(":")
    return (user, password) if sep and user and password else None


def build_app(settings: Settings | None = None) -> gr.Blocks:
    """The Gradio app for ``settings`` (default: from RAG_* variables). Nothing is launched."""
    settings = settings or Settings.from_env()
    h = Handlers(settings)
    lib = Library(settings)
    llm_ready = bool(settings.llm)
    private: dict[str, Any] = {"api_visibility": "private"}
    fast: dict[str, Any] = {"queue": False, **private}
    common: dict[str, Any] = {"concurrency_limit": CHAT_CONCURRENCY, "concurrency_id": "chat"}
    # Saved chats live in this browser's local storage; the key and secret are per install.
    secret = hashlib.sha256(str(settings.index_dir.resolve()).encode()).hexdigest()[:32]
    app: gr.Blocks
    with gr.Blocks(title="News Q&A") as app:
        turns = gr.State([])  # (question, answer text) pairs of this chat, for follow-ups
        docs = gr.State([])  # "ask only these articles"
        chat_id = gr.State("")
        saved = gr.BrowserState(
            {"current": "", "chats": []}, storage_key="rag-news-chats", secret=secret
        )
        # The question accepted for answering (a component, not a State, so API clients of
        # /chat can send it).
        pending = gr.Textbox(visible="hidden", elem_id="pending-question")
        gr.Markdown("## Ask the news\nAnswers quote the articles; every claim links to its source.")
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab("Chat", id="chat", elem_id="chat-tab"), gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    chat = gr.Chatbot(
                        elem_id="chat",
                        label="Conversation",
                        show_label=False,
                        # Gradio's autoscroll undoes marker jumps; the page script scrolls.
                        autoscroll=False,
                        height="62vh",
                        # Messages are HTML we escape ourselves; Markdown would turn
                        # article text such as [x](javascript:...) into links.
                        render_markdown=False,
                        sanitize_html=True,
                        allow_tags=False,
                        feedback_options=None,
                        buttons=["copy"],
                        placeholder="Ask a question about the articles, or pick an example.",
                    )
                    chips = gr.HTML(elem_id="filter-chips")
                    clear_filters = gr.Button(
                        "✕ Clear filters", size="sm", visible=False, elem_id="clear-filters"
                    )
                    with gr.Row():
                        question = gr.Textbox(
                            elem_id="question",
                            show_label=False,
                            placeholder="Ask about the news…",
                            scale=6,
                            autofocus=True,
                            max_lines=4,
                        )
                        send = gr.Button("Ask", variant="primary", elem_id="send", min_width=70)
                    gr.HTML('<div id="q-counter" aria-live="polite"></div>')
                    with gr.Row(elem_id="actions"):
                        stop = gr.Button("■ Stop", size="sm", elem_id="stop", min_width=0)
                        regenerate = gr.Button(
                            "↻ Regenerate", size="sm", elem_id="regenerate", min_width=0
                        )
                        edit = gr.Button("✎ Edit last", size="sm", elem_id="edit", min_width=0)
                        new = gr.Button("New chat", size="sm", elem_id="new-chat", min_width=0)
                    with gr.Row(elem_id="examples"):
                        example_buttons = [
                            gr.Button(text, size="sm", elem_classes="example", min_width=0)
                            for text in EXAMPLES
                        ]
                with gr.Column(scale=2):
                    status = gr.HTML(elem_id="index-status")
                    with gr.Accordion("Settings", open=False, elem_id="settings"):
                        k = gr.Slider(1, 20, value=settings.k, step=1, label="Passages to retrieve")
                        answerer = gr.Radio(
                            answerer_choices(settings),
                            value=settings.answerer if llm_ready else "extractive",
                            label="Answerer",
                            interactive=llm_ready,
                            info=None if llm_ready else "Set RAG_LLM to enable the LLM.",
                        )
                        sources = gr.Dropdown(
                            choices=rag.outlets(settings=settings),
                            multiselect=True,
                            label="Only these outlets",
                            elem_id="outlets",
                        )
                        newest = gr.Markdown(elem_id="newest")
                        since = gr.Textbox(
                            label="From", placeholder=DATE_HINT, elem_id="since", max_lines=1
                        )
                        until = gr.Textbox(
                            label="Until", placeholder=DATE_HINT, elem_id="until", max_lines=1
                        )
                        as_of = gr.Textbox(
                            label="As of",
                            placeholder=f"empty: today; {DATE_HINT}",
                            info="Answer as on that day: only articles published by then; "
                            "“this week”, “yesterday” count from it.",
                            elem_id="as-of",
                            max_lines=1,
                        )
                        date_error = gr.HTML(elem_id="date-error")
                    with gr.Accordion("Add articles", open=True, elem_id="add-articles"):
                        files = gr.File(
                            file_count="multiple",
                            file_types=list(SUPPORTED_SUFFIXES),
                            label=f"Files up to {settings.upload_max_mb:g} MB: "
                            + " ".join(SUPPORTED_SUFFIXES),
                            elem_id="upload",
                            height=150,
                        )
                        upload_report = gr.HTML(elem_id="upload-report")
                        with gr.Row(equal_height=True):
                            url_box = gr.Textbox(
                                label="Feed or article URL",
                                placeholder="https://example.com/rss.xml or an article's address",
                                elem_id="add-url",
                                max_lines=1,
                                scale=4,
                            )
                            add_url = gr.Button("Add", elem_id="add-url-button", min_width=60)
                        url_report = gr.HTML(elem_id="url-report")
                        feeds_table = gr.HTML(elem_id="feeds")
                        with gr.Row(equal_height=True):
                            feed_pick = gr.Dropdown(
                                choices=[],
                                label="Subscription",
                                elem_id="feed-pick",
                                scale=3,
                                interactive=True,
                            )
                            remove_feed = gr.Button("Remove", elem_id="remove-feed", min_width=60)
                            sync_feeds = gr.Button(
                                "Fetch feeds now", elem_id="sync-feeds", min_width=60
                            )
                    past = gr.Dropdown(
                        choices=[],
                        label="Past chats (kept in this browser)",
                        elem_id="past-chats",
                        interactive=True,
                    )
            with gr.Tab("Library", id="library", elem_id="library-tab"):
                with gr.Row():
                    lib_query = gr.Textbox(
                        label="Search titles, outlets, links, files",
                        elem_id="library-search",
                        scale=4,
                        max_lines=1,
                    )
                    lib_prev = gr.Button("← Previous", elem_id="library-prev", min_width=100)
                    lib_next = gr.Button("Next →", elem_id="library-next", min_width=100)
                lib_page = gr.Number(value=1, visible="hidden", precision=0)
                lib_table = gr.HTML(elem_id="library-table")
                picked = gr.Textbox(visible="hidden", elem_id="library-picked")
                with gr.Row():
                    ask_only = gr.Button(
                        "Ask only these articles", variant="primary", elem_id="ask-only"
                    )
                    delete = gr.Button("Delete selected", variant="stop", elem_id="delete")
                lib_note = gr.HTML(
                    "<p>Deleting removes an article from the index. An upload is deleted with "
                    "it; a file elsewhere in the corpus is kept, and the next sync of its "
                    "folder brings the article back.</p>",
                    elem_id="library-note",
                )
        with gr.Column(visible=False, elem_id="article-panel") as article_panel:
            close_article = gr.Button("✕ Close", size="sm", elem_id="close-article")
            article_view = gr.HTML(elem_id="article-view")
        read_request = gr.Textbox(visible="hidden", elem_id="read-request")
        read_trigger = gr.Button("read", visible="hidden", elem_id="read-trigger")

        # -- chat: the box is cleared once, on submit; streaming never writes it again.
        filter_inputs = [sources, since, until, docs]
        answer_inputs = [pending, chat, turns, k, answerer, sources, since, until, as_of, docs]
        save = (chats.save_chat, [chat, turns, saved, chat_id], [saved, past, chat_id])

        def ask_chain(trigger: Any) -> Any:
            answering = trigger.success(
                h.respond,
                answer_inputs,
                [chat, turns],
                api_name="chat",
                api_visibility="undocumented",
                **common,
            )
            answering.then(*save, **private)
            return answering

        # The box is emptied in the page at the moment of sending (a server round trip would
        # erase what is typed meanwhile), and refilled if the question is not accepted.
        accepted = gr.on(
            [question.submit, send.click],
            h.accept,
            [question, *filter_inputs, as_of],
            pending,
            js="(q, ...rest) => [ragSending(q), ...rest]",
            **private,  # queued: errors show
        )
        accepted.failure(None, None, None, js="() => ragRefill()", **private)
        runs = [ask_chain(accepted)]
        for button, text in zip(example_buttons, EXAMPLES, strict=True):
            runs.append(ask_chain(button.click(lambda t=text: t, None, pending, **fast)))
        regen = regenerate.click(h.pop_last, [chat, turns], [pending, chat, turns], **fast)
        runs.append(ask_chain(regen))
        stop.click(h.stopped, chat, chat, cancels=runs, **fast).then(*save, **private)
        edit.click(h.edit_last, [chat, turns], [question, chat, turns], **fast).then(
            *save, **private
        )
        new.click(chats.new_chat, saved, [chat, turns, chat_id, past], **fast)
        # The chatbot's own trash button forgets this chat, follow-up history included.
        chat.clear(chats.forget_chat, [saved, chat_id], [chat, turns, chat_id, saved, past], **fast)
        past.input(chats.switch_chat, [past, saved], [chat, turns, chat_id, saved], **fast)

        # -- filters: checked as they are set, shown as chips next to the question box.
        shown = (h.show_filters, [*filter_inputs, as_of], [chips, date_error, clear_filters])
        for box in (since, until, as_of):
            box.blur(*shown, **fast)
            box.submit(*shown, **fast)
        sources.change(*shown, **fast)
        docs.change(*shown, **fast)
        # Clicking Clear blurs the date box that had the focus, whose check may finish after
        # the clearing: the chips are worked out again from the cleared boxes.
        clear_filters.click(
            h.clear_filters,
            None,
            [sources, since, until, docs, as_of, chips, date_error, clear_filters],
            **fast,
        ).then(*shown, **fast)

        # -- uploads
        files.upload(
            lib.upload,
            files,
            [files, status, upload_report, sources],
            concurrency_limit=1,
            concurrency_id="ingest",
            show_progress_on=[upload_report],
            **private,
        )

        # -- feeds and article URLs
        ingesting: dict[str, Any] = {"concurrency_limit": 1, "concurrency_id": "ingest"}
        feed_view = [feeds_table, feed_pick]
        gr.on(
            [add_url.click, url_box.submit],
            lib.add_url,
            url_box,
            [url_box, url_report, status, sources, *feed_view],
            show_progress_on=[url_report],
            **ingesting,
            **private,
        )
        remove_feed.click(lib.remove_feed, feed_pick, [url_report, *feed_view], **private)
        sync_feeds.click(
            lib.sync_feeds,
            None,
            [url_report, status, sources, *feed_view],
            show_progress_on=[url_report],
            **ingesting,
            **private,
        )

        # -- library
        lib_outputs = [lib_table, lib_page, lib_prev, lib_next]
        lib_query.submit(lib.search_library, lib_query, lib_outputs, **private)
        lib_query.change(
            lib.search_library, lib_query, lib_outputs, trigger_mode="always_last", **private
        )
        lib_prev.click(
            lambda q, p: lib.page_library(q, p, -1), [lib_query, lib_page], lib_outputs, **private
        )
        lib_next.click(
            lambda q, p: lib.page_library(q, p, 1), [lib_query, lib_page], lib_outputs, **private
        )
        ask_only.click(
            lib.ask_only, picked, [docs, tabs, lib_note], js="() => [ragPicked()]", **private
        )
        delete.click(
            lib.delete,
            [picked, lib_query, lib_page, docs],
            [lib_note, lib_table, lib_page, lib_prev, lib_next, status, sources, docs],
            js="(p, q, n, d) => [confirm('Delete the ticked articles from the index?') "
            "? ragPicked() : '', q, n, d]",
            concurrency_limit=1,
            concurrency_id="ingest",
            **private,
        )
        tabs.select(lib.search_library, lib_query, lib_outputs, **private)

        # -- article view
        read_trigger.click(
            lib.open_article,
            read_request,
            [article_view, article_panel],
            js="() => [window.__ragRead || '']",
            **private,
        )
        close_article.click(lib.close_article, None, article_panel, **fast)

        app.load(lib.refresh, None, [status, sources, newest], **private)
        app.load(lib.feeds, None, feed_view, **private)
        app.load(chats.restore, saved, [chat, turns, chat_id, past], **private)
        gr.api(  # type: ignore[attr-defined]
            h.api_answer, api_name="answer", concurrency_limit=API_CONCURRENCY
        )
    app.queue(default_concurrency_limit=CHAT_CONCURRENCY)
    return app


def launch(
    app: gr.Blocks,
    settings: Settings,
    *,
    port: int | None = None,
    block: bool = True,
    quiet: bool = False,
) -> gr.Blocks:
    """Serve ``app`` on settings.host/port; with ``block=False`` return once it listens."""
    app.launch(  # returns (app, local url, share url); callers only need the Blocks
        server_name=settings.host,
        server_port=port or settings.port,
        auth=parse_auth(settings.auth),
        max_file_size=f"{settings.upload_max_mb:g}mb",
        prevent_thread_lock=not block,
        quiet=quiet,
        footer_links=["api"],
        css=css(),
        head=head(),
        theme=gr.themes.Soft(),
    )
    return app


def warm_up(settings: Settings) -> None:
    """Load the models and index in the background so the first question is fast."""

    def run() -> None:
        with contextlib.suppress(Exception):  # a real problem shows up on the first question
            rag.warm_up(settings=settings, question=EXAMPLES[0])

    threading.Thread(target=run, name="rag-warm-up", daemon=True).start()


def main(settings: Settings | None = None) -> int:
    """Run the web UI until interrupted (what ``python ui.py`` and ``rag serve`` do)."""
    settings = settings or Settings.from_env()
    warning = bind_warning(settings.host, settings.auth)
    if warning:
        print(warning, file=sys.stderr)
    if settings.auth and not parse_auth(settings.auth):
        print("error: RAG_AUTH must look like user:password", file=sys.stderr)
        return 2
    warm_up(settings)  # first, so models load while the app is built and starts listening
    app = build_app(settings)
    launch(app, settings)
    return 0
