"""The web UI: ask the news articles questions and see the passages each answer rests on.

Run ``python ui.py`` (or ``rag serve``) and open http://127.0.0.1:7860. Everything here is
presentation; answering, ingesting and statistics come from :mod:`rag`.

Scripts can call the ``/answer`` endpoint::

    from gradio_client import Client
    text, answer = Client("http://127.0.0.1:7860/").predict(
        "Why was the launch's timing notable?", "[]", api_name="/answer"
    )
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import json
import os
import re
import sys
import threading
import traceback
import unicodedata
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gradio as gr

import rag
from rag.config import Settings
from rag.loaders import SUPPORTED_SUFFIXES
from rag.text import MARKER

EXAMPLES = (
    "Why was the launch's timing notable?",
    "How far did the missile fly?",
    "What did Blinken say about Russia?",
)

# Chats run in worker threads; 16 at once keeps 8+ simultaneous users answering without
# queueing, while staying well under Gradio's default pool of 40 threads.
CHAT_CONCURRENCY = 16
API_CONCURRENCY = 8
# LLM answers can take many seconds; capping them leaves chat slots free for extractive users.
LLM_CONCURRENCY = 4

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
ANSWERERS = [("Extractive (quotes the articles, offline)", "extractive"), ("LLM", "llm")]
CONTEXT_CHARS = 280  # passage text shown either side of a quote

CSS = """
.answer-text { line-height: 1.55; }
.answer-text a.marker { text-decoration: none; font-weight: 600; padding: 0 1px; }
.sources { margin-top: .75em; }
.sources > summary { cursor: pointer; font-weight: 600; }
.src-card { border-left: 3px solid var(--color-accent); padding: .35em .7em; margin: .5em 0;
  background: var(--background-fill-secondary); border-radius: 4px; scroll-margin-top: 1em; }
.src-card:target { outline: 2px solid var(--color-accent); }
.src-title { font-weight: 600; }
.src-meta { font-size: .9em; opacity: .8; }
.src-passage { margin: .35em 0 0; font-size: .92em; white-space: pre-wrap; }
mark.quote { background: #fde68a; color: #1f2937; padding: 0 1px; border-radius: 2px; }
.refusal { border: 1px dashed #d97706; background: rgba(217, 119, 6, .08);
  padding: .6em .8em; border-radius: 6px; }
.refusal-title, .error-title { font-weight: 700; display: block; margin-bottom: .25em; }
.error-note { border: 1px solid #dc2626; background: rgba(220, 38, 38, .08);
  padding: .6em .8em; border-radius: 6px; }
.pending { opacity: .75; }
"""

# Brings each new message into view. Gradio's own autoscroll is off because it scrolls back to
# the bottom whenever a marker link jumps to its source card.
HEAD = """<script>
(() => {
  let rows = 0;
  const follow = () => {
    const chat = document.querySelector("#chat .bubble-wrap");
    const count = chat ? chat.querySelectorAll(".message-row").length : 0;
    if (chat && count > rows) chat.scrollTo({ top: chat.scrollHeight });
    rows = count;
  };
  new MutationObserver(() => requestAnimationFrame(follow)).observe(document.documentElement, {
    childList: true,
    subtree: true,
  });
})();
</script>"""

# -- presentation: every string from an article or a user is escaped here ---------------------


def esc(value: object) -> str:
    """HTML-escape anything for use in text or a quoted attribute."""
    return html.escape(str(value), quote=True)


def safe_url(url: str) -> str | None:
    """The URL if it is a plain http(s) link, else None (so `javascript:` never becomes a link)."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return url
    return None


def text_html(text: str) -> str:
    """Escaped text with its line breaks kept (messages render as HTML, not Markdown)."""
    return esc(text).replace("\n", "<br>")


def link_markers(text: str, turn: int, cited: set[int]) -> str:
    """Escaped answer text whose markers [n] jump to source card n of the same answer."""

    def link(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if n not in cited:
            return match.group(0)
        return f'<a class="marker" href="#{source_anchor(turn, n)}">[{n}]</a>'

    return MARKER.sub(link, text_html(text))


def source_anchor(turn: int, n: int) -> str:
    """The id of source card ``n`` of answer ``turn``; ids stay unique across a whole chat."""
    return f"src-{turn}-{n}"


def find_passage(citation: rag.Citation, passages: Sequence[rag.Passage]) -> rag.Passage | None:
    """The retrieved passage a citation quotes: by chunk id, else the one holding its offsets."""
    for p in passages:
        if citation.chunk_id and p.chunk_id == citation.chunk_id:
            return p
    for p in passages:
        if p.doc_id == citation.doc_id and p.start <= citation.start and citation.end <= p.end:
            return p
    return None


def _trim(text: str, keep: int, *, left: bool) -> str:
    """At most ``keep`` characters of context, cut at a word boundary, with an ellipsis."""
    if len(text) <= keep:
        return text
    cut = text[-keep:] if left else text[:keep]
    if left:
        space = cut.find(" ")
        return "…" + (cut[space + 1 :] if 0 <= space < 40 else cut)
    space = cut.rfind(" ")
    return (cut[:space] if space > keep - 40 else cut) + "…"


def highlighted_passage(citation: rag.Citation, passage: rag.Passage | None) -> str:
    """The quote shown inside its passage, highlighted; just the quote if offsets disagree."""
    quote = f'<mark class="quote">{text_html(citation.quote)}</mark>'
    if passage is None:
        return quote
    # Citation offsets are article offsets; the passage starts at passage.start in the article.
    a, b = citation.start - passage.start, citation.end - passage.start
    if not (0 <= a < b <= len(passage.text)) or passage.text[a:b] != citation.quote:
        a = passage.text.find(citation.quote)
        if a < 0 or not citation.quote:
            return quote
        b = a + len(citation.quote)
    before = _trim(passage.text[:a], CONTEXT_CHARS, left=True)
    after = _trim(passage.text[b:], CONTEXT_CHARS, left=False)
    return f"{text_html(before)}{quote}{text_html(after)}"


def _date(value: dt.date | str | None) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value or "")


def source_card(citation: rag.Citation, passage: rag.Passage | None, turn: int) -> str:
    """One citation: title, outlet, date, link, and the quote inside its passage."""
    meta = " · ".join(esc(x) for x in (citation.source, _date(citation.published)) if x)
    url = safe_url(citation.url)
    link = (
        f' · <a href="{esc(url)}" target="_blank" rel="noopener noreferrer">open article</a>'
        if url
        else ""
    )
    title = esc(citation.title or "Untitled article")
    return (
        f'<div class="src-card" id="{source_anchor(turn, citation.n)}">'
        f'<div class="src-title">[{citation.n}] {title}</div>'
        f'<div class="src-meta">{meta}{link}</div>'
        f'<blockquote class="src-passage">{highlighted_passage(citation, passage)}</blockquote>'
        f"</div>"
    )


def sources_html(answer: rag.Answer, turn: int) -> str:
    """The source cards of one answer, in marker order, under a collapsible heading."""
    if not answer.citations:
        return ""
    cards = "".join(
        source_card(c, find_passage(c, answer.passages), turn)
        for c in sorted(answer.citations, key=lambda c: c.n)
    )
    count = len(answer.citations)
    label = f"{count} source" + ("" if count == 1 else "s")
    return f'<details class="sources" open><summary>{label}</summary>{cards}</details>'


def why_html(trace: rag.Trace) -> str:
    """The decision as the answer's trace recorded it: probability, threshold, parts."""
    if trace.probability is None and not trace.decision:
        return ""
    lines = [esc(trace.decision)]
    if trace.probability is not None and trace.threshold is not None:
        lines.append(
            f"supported with probability {trace.probability:.2f} "
            f"(answers need {trace.threshold:.2f})"
        )
    for part in trace.parts:
        state = "supported" if part.supported else "not covered"
        lines.append(f"{esc(', '.join(part.sources))}: {state}")
    items = "".join(f"<li>{line}</li>" for line in lines)
    return f'<details class="why"><summary>Why</summary><ul>{items}</ul></details>'


def answer_html(answer: rag.Answer, turn: int) -> str:
    """A finished answer: linked markers and its sources, or a distinct refusal notice."""
    if answer.refused:
        return (
            '<div class="refusal"><span class="refusal-title">Not answered from these articles'
            f"</span>{text_html(answer.text)}</div>{why_html(answer.trace)}"
        )
    cited = {c.n for c in answer.citations}
    body = f'<div class="answer-text">{link_markers(answer.text, turn, cited)}</div>'
    return body + sources_html(answer, turn) + why_html(answer.trace)


def pending_html(text: str) -> str:
    """An answer still streaming in: plain escaped text (markers are linked once it is done)."""
    return f'<div class="answer-text pending">{text_html(text) or "…"}</div>'


def error_html(exc: BaseException) -> str:
    """An error as a chat message; rag's own errors already say what to do."""
    if isinstance(exc, rag.RagError):
        title, detail = "Could not answer", str(exc)
    else:
        title, detail = "Something went wrong", f"{type(exc).__name__}: {exc}"
    return f'<div class="error-note"><span class="error-title">{title}</span>{esc(detail)}</div>'


def user_html(question: str) -> str:
    """The user's own message, escaped like everything else."""
    return text_html(question)


# -- uploads -----------------------------------------------------------------------------------


class UploadError(ValueError):
    """An uploaded file that is not saved; the message says why."""


def safe_filename(name: str) -> str:
    """A file name that cannot leave the uploads folder: no folders, no leading dots.

    Letters of every script are kept (``新闻.txt`` stays ``新闻.txt``); accents on Latin
    letters are dropped (é -> e); anything else that is not a letter, digit, ``.``, ``_``
    or ``-`` becomes ``_``.

    >>> safe_filename("../../x.txt")
    'x.txt'
    """
    folded: list[str] = []
    for ch in unicodedata.normalize("NFKD", name):
        if unicodedata.category(ch) == "Mn" and folded and folded[-1].isascii():
            continue  # the accent of a Latin letter
        folded.append(ch)
    text = unicodedata.normalize("NFC", "".join(folded))
    base = text.replace("\\", "/").rsplit("/", 1)[-1]
    base = re.sub(r"[^\w.-]+", "_", base).strip("._-")
    stem, suffix = os.path.splitext(base)
    return (stem.strip("._-")[:120] or "upload") + suffix.lower()


def uploads_dir(settings: Settings) -> Path:
    """Where uploaded articles are kept: inside the corpus, so `rag ingest` keeps them too."""
    return settings.corpus_dir / "uploads"


def save_upload(source: str | Path, name: str, folder: Path, max_mb: float) -> Path:
    """Copy one uploaded file into ``folder`` under a safe name; UploadError if refused.

    An upload never replaces another one: when its name is taken by a different file it is
    saved as ``name-2``, ``name-3``, ... (the same file uploaded again keeps its name).
    """
    source = Path(source)
    safe = safe_filename(name)
    stem, suffix = os.path.splitext(safe)
    if suffix not in SUPPORTED_SUFFIXES:
        raise UploadError(
            f"unsupported file type {suffix or '(none)'}; use {', '.join(SUPPORTED_SUFFIXES)}"
        )
    size = source.stat().st_size
    if size > max_mb * 1024 * 1024:
        raise UploadError(
            f"{size / 1024 / 1024:.1f} MB is over the {max_mb:g} MB limit (RAG_UPLOAD_MAX_MB)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    data = source.read_bytes()
    for n in range(1, 1000):
        target = (folder / (safe if n == 1 else f"{stem}-{n}{suffix}")).resolve()
        if target.parent != folder.resolve():  # belt and braces: safe_filename prevents it
            raise UploadError("the file name points outside the uploads folder")
        if _claim(target, data):
            return target
    raise UploadError(f"too many uploads named {safe}: rename the file and upload it again")


def _claim(target: Path, data: bytes) -> bool:
    """Write ``data`` to ``target`` unless another file holds that name (never replacing it)."""
    if target.exists():
        return target.is_file() and target.read_bytes() == data  # the same upload again
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_bytes(data)
        os.link(tmp, target)  # fails if the name was taken meanwhile: nothing is replaced
    except FileExistsError:
        return target.read_bytes() == data
    finally:
        tmp.unlink(missing_ok=True)
    return True


def ingest_report_html(
    report: rag.IngestReport | None,
    rejected: list[tuple[str, str]],
    folder: Path,
    renamed: Sequence[tuple[str, str]] = (),
) -> str:
    """What an upload did, with every file that was left out and why."""
    parts: list[str] = []
    if report is not None:
        parts.append(
            f"<p>{len(report.added)} added, {len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged, {len(report.removed)} removed.</p>"
        )
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
        parts.append(f'<p>Skipped:</p><ul class="skipped">{items}</ul>')
    return "".join(parts)


def _relative(path: str, folder: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(folder.resolve()))
    except ValueError:
        return Path(path).name


# -- settings and status -----------------------------------------------------------------------


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


def outlets(settings: Settings) -> list[str]:
    """The outlets in the index, for the filter; none when nothing is indexed yet."""
    from rag.pipeline import get_pipeline

    try:
        return sorted(get_pipeline(settings).retriever.sources())
    except rag.RagError:
        return []


def status_markdown(settings: Settings) -> str:
    """Articles, chunks and last sync of the index, in one line."""
    try:
        s = rag.stats(settings=settings)
    except rag.RagError as exc:
        return f"Index unavailable: {esc(exc)}"
    if not s.get("articles"):
        return "No articles indexed yet: add some below, or run `rag ingest`."
    synced = esc(s.get("last_sync") or "never").replace("T", " ")
    return f"**{s['articles']}** articles · **{s['chunks']}** passages · last sync {synced}"


def build_filters(
    sources: Sequence[str] | None, since: str | float | None, until: str | float | None
) -> dict[str, Any] | None:
    """The filters dict rag expects, leaving out what the user did not set."""
    filters: dict[str, Any] = {}
    if sources:
        filters["source"] = list(sources)
    for key, value in (("since", since), ("until", until)):
        day = _day(value)
        if day:
            filters[key] = day
    return filters or None


def _day(value: str | float | None) -> str:
    """YYYY-MM-DD from the date picker (a string, or a timestamp in some versions)."""
    if value is None or value == "":
        return ""
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, dt.UTC).date().isoformat()
    return str(value).strip()[:10]


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


# -- event handlers ----------------------------------------------------------------------------

Message = dict[str, str]
Turn = tuple[str, str]


class Handlers:
    """The UI's event handlers, bound to one Settings value."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.llm_slots = threading.BoundedSemaphore(LLM_CONCURRENCY)

    @contextlib.contextmanager
    def _slot(self, answerer: str | None) -> Iterator[None]:
        """Hold an LLM slot while an LLM answers; extractive answers need none."""
        if (answerer or self.settings.answerer) != "llm":
            yield
            return
        with self.llm_slots:
            yield

    def respond(
        self,
        question: str,
        chat: list[Message],
        turns: list[Turn],
        k: float,
        answerer: str,
        sources: list[str] | None,
        since: str | float | None,
        until: str | float | None,
    ) -> Iterator[tuple[str, list[Message], list[Turn]]]:
        """Stream one answer into the chat; its sources appear under it when it is done."""
        question = (question or "").strip()
        if not question:
            yield "", chat, turns
            return
        turn = len(chat) // 2 + 1
        chat = [
            *chat,
            {"role": "user", "content": user_html(question)},
            {"role": "assistant", "content": pending_html("")},
        ]
        yield "", chat, turns
        try:
            options = self.options(k, answerer, sources, since, until)
            final = yield from self._stream(question, chat, turns, options)
        except Exception as exc:  # any failure becomes a message, never a frozen spinner
            if not isinstance(exc, rag.RagError):
                traceback.print_exc()
            chat[-1] = {"role": "assistant", "content": error_html(exc)}
            yield "", chat, turns
            return
        chat[-1] = {"role": "assistant", "content": answer_html(final, turn)}
        yield "", chat, [*turns, (question, final.text)]

    def options(
        self,
        k: float,
        answerer: str,
        sources: list[str] | None,
        since: str | float | None,
        until: str | float | None,
    ) -> dict[str, Any]:
        """The settings panel as keyword arguments for rag.stream."""
        return {
            "k": int(k) if k else None,
            # The radio is locked without RAG_LLM, but a crafted request could still ask.
            "answerer": answerer if answerer == "llm" and self.settings.llm else "extractive",
            "filters": build_filters(sources, since, until),
        }

    def _stream(
        self, question: str, chat: list[Message], turns: list[Turn], options: dict[str, Any]
    ) -> Generator[tuple[str, list[Message], list[Turn]], None, rag.Answer]:
        """Yield chat updates while text streams in; return the final Answer."""
        shown = ""
        with self._slot(options["answerer"]):
            pieces = rag.stream(question, history=list(turns), settings=self.settings, **options)
            for item in pieces:
                if isinstance(item, rag.Answer):
                    return item
                shown += item
                chat[-1] = {"role": "assistant", "content": pending_html(shown)}
                yield "", chat, turns
        raise rag.RagError("the answerer stopped without an answer; please ask again")

    @staticmethod
    def new_chat() -> tuple[str, list[Message], list[Turn]]:
        """Forget this session's conversation."""
        return "", [], []

    def upload(
        self,
        files: list[str] | None,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ) -> tuple[None, str, str, Any]:
        """Save uploads under corpus/uploads, sync that folder, and report what happened."""
        folder = uploads_dir(self.settings)
        rejected: list[tuple[str, str]] = []
        renamed: list[tuple[str, str]] = []  # (uploaded name, name saved under)
        saved = 0
        paths = files or []
        for i, path in enumerate(paths):
            progress((i, len(paths) + 1), desc="Saving files")
            name = Path(path).name
            try:
                target = save_upload(path, name, folder, self.settings.upload_max_mb)
                saved += 1
            except (UploadError, OSError) as exc:
                rejected.append((name, str(exc)))
                continue
            if target.name != safe_filename(name):
                renamed.append((name, target.name))
        report: rag.IngestReport | None = None
        error = ""
        if saved:
            progress((len(paths), len(paths) + 1), desc="Indexing")
            try:
                report = rag.ingest([folder], settings=self.settings, quiet=False)
            except rag.RagError as exc:
                error = f'<p class="error-note">Indexing failed: {esc(exc)}</p>'
        result = error + ingest_report_html(report, rejected, folder, renamed)
        choices = outlets(self.settings)
        return None, status_markdown(self.settings), result, gr.update(choices=choices)

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

    def refresh(self) -> tuple[str, Any]:
        """Index status and outlet choices as they are now (on page load)."""
        return status_markdown(self.settings), gr.update(choices=outlets(self.settings))


# -- layout ------------------------------------------------------------------------------------


def build_app(settings: Settings | None = None) -> gr.Blocks:
    """The Gradio app for ``settings`` (default: from RAG_* variables). Nothing is launched."""
    settings = settings or Settings.from_env()
    h = Handlers(settings)
    llm_ready = bool(settings.llm)
    app: gr.Blocks
    with gr.Blocks(title="News Q&A") as app:
        turns = gr.State([])  # this session's (question, answer text) pairs, for follow-ups
        gr.Markdown("## Ask the news\nAnswers quote the articles; every claim links to its source.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chat = gr.Chatbot(
                    elem_id="chat",
                    label="Conversation",
                    show_label=False,
                    # Gradio's autoscroll undoes marker jumps to a source; HEAD scrolls instead.
                    autoscroll=False,
                    height="65vh",
                    # Messages are HTML we escape ourselves; Markdown would turn article text
                    # such as [x](javascript:...) into links, and the sanitizer stays on.
                    render_markdown=False,
                    sanitize_html=True,
                    allow_tags=False,
                    feedback_options=None,
                    buttons=["copy"],
                    placeholder="Ask a question about the articles, or pick an example below.",
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
                    send = gr.Button("Ask", variant="primary", elem_id="send", min_width=90)
                    clear = gr.Button("New chat", elem_id="new-chat", min_width=120)
                with gr.Row(elem_id="examples"):
                    example_buttons = [
                        gr.Button(text, size="sm", elem_classes="example") for text in EXAMPLES
                    ]
            with gr.Column(scale=2):
                status = gr.Markdown(elem_id="index-status")
                with gr.Accordion("Settings", open=False, elem_id="settings"):
                    k = gr.Slider(1, 20, value=settings.k, step=1, label="Passages to retrieve")
                    answerer = gr.Radio(
                        ANSWERERS,
                        value=settings.answerer if llm_ready else "extractive",
                        label="Answerer",
                        interactive=llm_ready,
                        info=None if llm_ready else "Set RAG_LLM to enable the LLM answerer.",
                    )
                    sources = gr.Dropdown(
                        choices=outlets(settings),
                        multiselect=True,
                        label="Only these outlets",
                        elem_id="outlets",
                    )
                    with gr.Row():
                        since = gr.DateTime(include_time=False, type="string", label="From")
                        until = gr.DateTime(include_time=False, type="string", label="Until")
                with gr.Accordion("Add articles", open=True, elem_id="add-articles"):
                    files = gr.File(
                        file_count="multiple",
                        file_types=list(SUPPORTED_SUFFIXES),
                        label=f"Articles ({', '.join(SUPPORTED_SUFFIXES)}; "
                        f"up to {settings.upload_max_mb:g} MB each)",
                        elem_id="upload",
                        height=140,
                    )
                    upload_report = gr.HTML(elem_id="upload-report")

        chat_inputs = [question, chat, turns, k, answerer, sources, since, until]
        chat_outputs = [question, chat, turns]
        common: dict[str, Any] = {"concurrency_limit": CHAT_CONCURRENCY, "concurrency_id": "chat"}
        gr.on(
            [question.submit, send.click],
            h.respond,
            chat_inputs,
            chat_outputs,
            api_name="chat",
            api_visibility="undocumented",
            **common,
        )
        for button, text in zip(example_buttons, EXAMPLES, strict=True):
            button.click(
                lambda t=text: t, None, question, queue=False, api_visibility="private"
            ).then(h.respond, chat_inputs, chat_outputs, api_visibility="private", **common)
        clear.click(h.new_chat, None, chat_outputs, queue=False, api_visibility="private")
        # The chatbot's own trash button must forget the follow-up history too.
        chat.clear(h.new_chat, None, chat_outputs, queue=False, api_visibility="private")
        files.upload(
            h.upload,
            files,
            [files, status, upload_report, sources],
            concurrency_limit=1,
            concurrency_id="ingest",
            api_visibility="private",
        )
        app.load(h.refresh, None, [status, sources], api_visibility="private")
        gr.api(  # type: ignore[attr-defined]
            h.api_answer, api_name="answer", concurrency_limit=API_CONCURRENCY
        )
    app.queue(default_concurrency_limit=CHAT_CONCURRENCY)
    return app


# -- running -----------------------------------------------------------------------------------


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
        css=CSS,
        head=HEAD,
        theme=gr.themes.Soft(),
    )
    return app


def warm_up(settings: Settings) -> None:
    """Load the models and index in the background so the first question is fast."""

    def run() -> None:
        with contextlib.suppress(Exception):  # a real problem shows up on the first question
            rag.answer(EXAMPLES[0], settings=settings)

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


if __name__ == "__main__":
    sys.exit(main())
