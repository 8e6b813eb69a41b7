"""The web UI: its /answer API, per-session chats, uploads, rendering and escaping, against a
real ``python ui.py`` (which starts rag.ui)."""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS, REPO, Site
from test_feeds import FLOOD, LAUNCH, page, rss
from test_local_llm import needs_model

import rag
from rag import uploads
from rag.config import Settings
from rag.types import PartTrace
from rag.ui import app as ui_app
from rag.ui import panels, render

QUESTION = "Why was the launch's timing notable?"
TIMING = "just weeks before a major political transition in the United States"
# Answered only when the previous turn is known: "it" is the launch, reported by Patrick Fok.
FOLLOW_UP = "Who reported it?"


# -- a real `python ui.py` on a free port -------------------------------------------------------


@dataclass
class Server:
    """A running ui.py and the folders it works in."""

    url: str
    corpus: Path
    index: Path
    process: subprocess.Popen[bytes]
    log: Path
    started: float  # perf_counter when the process was started


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_ui(
    tmp: Path, seed: Settings, timeout: float = 120.0, env_extra: dict[str, str] | None = None
) -> Server:
    """Start ui.py on a copy of the seed index and corpus, so nothing in the repo is written."""
    corpus, index = tmp / "corpus", tmp / "index"
    shutil.copytree(CORPUS, corpus)
    shutil.copytree(seed.index_dir, index)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(
        RAG_INDEX_DIR=str(index),
        RAG_CORPUS_DIR=str(corpus),
        RAG_PORT=str(port),
        HF_HUB_OFFLINE="1",
        ANONYMIZED_TELEMETRY="False",
        GRADIO_ANALYTICS_ENABLED="False",
    )
    env.update(env_extra or {})
    log = tmp / "ui.log"
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(REPO / "ui.py")],
        cwd=REPO,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ui.py exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return Server(url, corpus, index, process, log, started)
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"ui.py did not answer at {url} within {timeout:.0f}s:\n{log.read_text()}")


def stop_ui(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, seed_settings: Settings) -> Iterator[Server]:
    running = start_ui(tmp_path_factory.mktemp("ui"), seed_settings)
    yield running
    stop_ui(running)


def client(server: Server) -> Any:
    from gradio_client import Client

    return Client(server.url, verbose=False)


def chat(session: Any, question: str, history: list[Any], **options: Any) -> list[dict[str, Any]]:
    """Ask through the chat endpoint the page uses; the updated chat messages."""
    messages = session.predict(
        question,
        history,
        options.get("k", 6),
        options.get("answerer", "extractive"),
        options.get("sources", []),
        options.get("since") or "",
        options.get("until") or "",
        options.get("as_of") or "",
        api_name="/chat",
    )
    return list(messages)


def content(message: dict[str, Any]) -> str:
    """A chat message's text, whichever shape the client returns it in."""
    value = message["content"]
    if isinstance(value, list):
        return "".join(str(part.get("text", "")) for part in value if isinstance(part, dict))
    return str(value)


# -- the API for scripts ------------------------------------------------------------------------


@pytest.mark.slow
def test_answer_endpoint_returns_text_and_citations(server: Server) -> None:
    text, answer = client(server).predict(QUESTION, "[]", api_name="/answer")
    print(f"first answer {time.perf_counter() - server.started:.1f}s after ui.py started")
    assert "[1]" in text
    data = answer if isinstance(answer, dict) else json.loads(answer)
    assert data["text"] == text and not data["refused"]
    citations = data["citations"]
    assert {c["n"] for c in citations} >= {1}
    assert any(TIMING in c["quote"] for c in citations)
    first = citations[0]
    assert {"title", "source", "published", "url", "quote", "start", "end"} <= set(first)


@pytest.mark.slow
def test_answer_endpoint_uses_history_given_as_json(server: Server) -> None:
    session = client(server)
    text, _ = session.predict(QUESTION, "", api_name="/answer")
    history = json.dumps([[QUESTION, text]])
    follow_text, follow = session.predict(FOLLOW_UP, history, api_name="/answer")
    assert not follow["refused"] and "Patrick Fok" in follow_text
    messages = json.dumps(
        [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": text}]
    )
    _, same = session.predict(FOLLOW_UP, messages, api_name="/answer")
    assert not same["refused"]


@pytest.mark.slow
def test_answer_endpoint_reports_bad_history(server: Server) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="history must be JSON"):
        client(server).predict(QUESTION, "[[unquoted", api_name="/answer")


# -- chats in the page --------------------------------------------------------------------------


@pytest.mark.slow
def test_sessions_keep_their_own_history(server: Server) -> None:
    alice, bob = client(server), client(server)
    alice_chat = chat(alice, QUESTION, [])
    assert TIMING in content(alice_chat[-1])
    # Bob never asked the first question, so "it" means nothing in his session...
    bob_chat = chat(bob, FOLLOW_UP, [])
    assert len(bob_chat) == 2
    assert 'class="refusal"' in content(bob_chat[-1])
    # ...while Alice's follow-up is read in the light of her own first question.
    alice_chat = chat(alice, FOLLOW_UP, alice_chat)
    assert len(alice_chat) == 4
    assert "Patrick Fok" in content(alice_chat[-1])
    assert 'class="refusal"' not in content(alice_chat[-1])


@pytest.mark.slow
def test_eight_simultaneous_chats_all_get_their_answer(server: Server) -> None:
    sessions = [client(server) for _ in range(8)]
    started = time.perf_counter()
    with ThreadPoolExecutor(len(sessions)) as pool:
        chats = list(pool.map(lambda s: chat(s, QUESTION, []), sessions))
    print(f"8 simultaneous chats answered in {time.perf_counter() - started:.1f}s")
    for messages in chats:
        assert len(messages) == 2
        answer = content(messages[-1])
        assert 'href="#src-1-1"' in answer and 'id="src-1-1"' in answer
        assert '<mark class="quote">' in answer and TIMING in answer


@pytest.mark.slow
def test_errors_show_as_a_chat_message(server: Server) -> None:
    messages = chat(client(server), QUESTION, [], since="2025-01-01", until="2020-01-01")
    assert len(messages) == 2
    assert 'class="error-note"' in content(messages[-1])
    assert "swap the dates" in content(messages[-1])


# -- uploads ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["../../x.txt", "..\\..\\x.txt", "/etc/x.txt", "uploads/../../x.txt", "....//x.txt"],
)
def test_upload_names_cannot_leave_the_uploads_folder(tmp_path: Path, name: str) -> None:
    source = tmp_path / "article.txt"
    source.write_text("A title\nSome text.\n", encoding="utf-8")
    folder = tmp_path / "corpus" / "uploads"
    saved = uploads.save_upload(source, name, folder, max_mb=1)
    assert saved.parent == folder.resolve()
    assert saved.name == "x.txt"
    assert not (tmp_path / "x.txt").exists()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("..", "upload"),
        (".hidden.md", "hidden.md"),
        ("Blinken <visit>.TXT", "Blinken_visit.txt"),
        ("naïve café.html", "naive_cafe.html"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
    ],
)
def test_upload_names_are_made_safe(name: str, expected: str) -> None:
    assert uploads.safe_filename(name) == expected


def test_uploads_over_the_size_limit_or_of_other_types_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * (2 * 1024 * 1024))
    folder = tmp_path / "uploads"
    with pytest.raises(uploads.UploadError, match="1 MB limit"):
        uploads.save_upload(big, "big.txt", folder, max_mb=1)
    with pytest.raises(uploads.UploadError, match="unsupported file type"):
        uploads.save_upload(big, "tool.exe", folder, max_mb=5)
    assert not folder.exists() or not any(folder.iterdir())


def test_uploads_go_under_the_corpus_folder(settings: Settings) -> None:
    assert uploads.uploads_dir(settings) == settings.corpus_dir / "uploads"


# -- rendering ----------------------------------------------------------------------------------


def hostile_answer() -> rag.Answer:
    quote = 'It said <script>window.__xss=1</script> and <img src=x onerror="window.__xss=1">.'
    passage_text = f"Before [click](javascript:window.__xss=1). {quote} After."
    start = 100 + passage_text.index(quote)
    citation = rag.Citation(
        n=1,
        doc_id="d1",
        title='<img src=x onerror="alert(1)">Title',
        source="<b>Outlet</b>",
        published=dt.date(2024, 1, 6),
        url="javascript:window.__xss=1",
        quote=quote,
        start=start,
        end=start + len(quote),
        score=0.9,
        chunk_id="d1:0",
    )
    passage = rag.Passage(
        text=passage_text,
        score=0.5,
        doc_id="d1",
        title=citation.title,
        source=citation.source,
        published=citation.published,
        url=citation.url,
        start=100,
        end=100 + len(passage_text),
        chunk_id="d1:0",
    )
    return rag.Answer(text=f"{quote} [1]", citations=(citation,), passages=(passage,))


def test_article_html_and_links_are_shown_as_text() -> None:
    page = render.answer_html(hostile_answer(), turn=3)
    assert "<script" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page
    assert "javascript:" not in page.replace("(javascript:window.__xss=1)", "")
    assert 'href="javascript' not in page
    assert '<a class="marker" href="#src-3-1" title="' in page and ">[1]</a>" in page
    assert '<span class="quote-head" id="src-3-1">' in page
    assert 'class="copy-text"' in page  # the plain text Copy gives, escaped too
    assert "<script" not in render.answer_plaintext(hostile_answer()).replace(
        "<script>window.__xss=1</script>", ""
    )


def test_quote_is_highlighted_inside_its_passage() -> None:
    answer = hostile_answer()
    html = render.highlighted_passage(answer.citations[0], answer.passages[0])
    before, rest = html.split('<mark class="quote">', 1)
    quoted, after = rest.split("</mark>", 1)
    assert before.startswith("Before [click]") and after == " After."
    assert quoted.startswith("It said &lt;script&gt;")


def test_only_http_links_are_links() -> None:
    assert render.safe_url("https://example.com/a?b=1") == "https://example.com/a?b=1"
    for url in ("javascript:alert(1)", "data:text/html,x", "//example.com", "ftp://x", ""):
        assert render.safe_url(url) is None


def test_refusals_look_different() -> None:
    refused = rag.Answer(text="The articles don't cover <this>.", refused=True)
    page = render.answer_html(refused, turn=1)
    assert page.startswith('<div class="refusal" id="answer-1">') and "&lt;this&gt;" in page
    assert 'class="src-card"' not in page


def test_errors_render_as_messages() -> None:
    page = render.error_html(rag.IndexNotReadyError("no articles <yet>: run `rag ingest`"))
    assert 'class="error-note"' in page and "&lt;yet&gt;" in page


# -- where it listens ---------------------------------------------------------------------------


def test_listens_on_localhost_by_default() -> None:
    assert Settings.from_env().host == "127.0.0.1"
    assert ui_app.bind_warning("127.0.0.1", "") is None


def test_binding_elsewhere_without_auth_prints_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    launched: list[Settings] = []
    monkeypatch.setattr(ui_app, "build_app", lambda settings: object())
    monkeypatch.setattr(ui_app, "warm_up", lambda settings: None)
    monkeypatch.setattr(ui_app, "launch", lambda app, settings: launched.append(settings))
    settings = Settings.from_env(index_dir=tmp_path, host="0.0.0.0")
    assert ui_app.main(settings) == 0
    assert "RAG_AUTH=user:password" in capsys.readouterr().err
    assert launched[0].host == "0.0.0.0"

    assert ui_app.main(settings.replace(auth="ann:secret")) == 0
    assert "warning" not in capsys.readouterr().err
    assert ui_app.parse_auth("ann:secret") == ("ann", "secret")
    assert ui_app.main(settings.replace(auth="no-colon")) == 2


def test_why_shows_the_trace_escaped() -> None:
    trace = rag.Trace(
        decision="partly answered",
        probability=0.61,
        threshold=0.4,
        parts=(
            PartTrace("x", ("<b>Gazette</b>",), 1.0, True),
            PartTrace("y", ("Ledger",), -9.0, False),
        ),
    )
    shown = render.why_html(trace)
    assert "0.61" in shown and "0.40" in shown and "partly answered" in shown
    assert "&lt;b&gt;Gazette&lt;/b&gt;: supported" in shown and "<b>" not in shown
    assert "Ledger: not covered" in shown
    assert render.why_html(rag.Trace()) == ""


# -- what the numbered UI problems became --------------------------------------------------------


def two_quotes_of_one_article() -> rag.Answer:
    base = hostile_answer()
    c1, p = base.citations[0], base.passages[0]
    c2 = rag.Citation(
        n=2,
        doc_id="d1",
        title=c1.title,
        source=c1.source,
        published=c1.published,
        url="https://example.com/a",
        quote="Before",
        start=100,
        end=106,
        score=0.2,
        chunk_id="d1:0",
    )
    return rag.Answer(text=f"{c1.quote} [1] Before [2].", citations=(c1, c2), passages=(p,))


def test_one_card_per_article_with_each_quote_reachable() -> None:
    page = render.answer_html(two_quotes_of_one_article(), turn=2)
    assert page.count('class="src-card"') == 1 and "1 source<" in page
    assert 'id="src-2-1"' in page and 'id="src-2-2"' in page
    assert 'href="#src-2-1"' in page and 'href="#src-2-2"' in page
    assert 'href="#answer-2"' in page and 'id="answer-2"' in page  # back to the answer
    assert page.count('class="relevance"') == 2 and 'title="relevance 0.20' in page
    # The second quote's passage is the same passage: it is not shown twice.
    assert page.count("After.") == 1 and page.count('<mark class="quote">') == 2


def test_copy_text_is_plain_with_numbered_sources() -> None:
    text = render.answer_plaintext(two_quotes_of_one_article())
    lines = text.splitlines()
    assert lines[2] == "Sources:"
    assert lines[3] == '[1] <img src=x onerror="alert(1)">Title (<b>Outlet</b>, 2024-01-06)'
    assert "https://example.com/a" in text and "javascript:" not in text.split("Sources:")[1]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2024-06-01", "2024-06-01"),
        ("06/01/2024", "2024-01-06"),  # day first, as the articles' bylines are read
        ("1 June 2024", "2024-06-01"),
        ("June 1, 2024", "2024-06-01"),
        ("", ""),
    ],
)
def test_dates_typed_in_common_formats(typed: str, expected: str) -> None:
    assert panels.parse_day(typed, "From") == (expected, "")


def test_a_date_that_is_not_one_is_an_error_and_no_filter() -> None:
    from rag.ui.handlers import build_filters

    value, error = panels.parse_day("2024-13-45", "From")
    assert value == "" and "is not a date" in error
    import gradio as gr

    with pytest.raises(gr.Error, match="not a date"):
        build_filters([], "2024-13-45", "")
    assert build_filters([], "", "06/01/2024", ["d1"]) == {"until": "2024-01-06", "doc_id": ["d1"]}
    chips = panels.filter_chips({"until": "2024-01-06", "doc_id": ["d1"]}, {"d1": "<b>T</b>"})
    assert "until 6 Jan 2024" in chips and "only 1 article" in chips and "<b>" not in chips


def test_counts_and_times_read_as_words() -> None:
    now = dt.datetime(2024, 1, 6, 12, 0, tzinfo=dt.UTC)
    assert render.plural(1, "article") == "1 article"
    assert render.plural(1429, "article") == "1,429 articles"
    assert panels.ago(now - dt.timedelta(minutes=5), now) == "5 min ago"
    assert panels.ago(now - dt.timedelta(days=1), now) == "1 day ago"
    status = panels.status_html(
        {"articles": 1, "chunks": 9, "last_sync": "2024-01-06T11:55:00+00:00"}
    )
    assert "<b>1 article</b>" in status and "<b>9 passages</b>" in status
    assert 'title="2024-01-06 11:55:00 UTC"' in status


def test_markers_stay_outside_brackets_and_quotes() -> None:
    from rag.text import refusal_text, with_marker

    assert with_marker("It flew 1,100 km.", 1) == "It flew 1,100 km [1]."
    assert with_marker("It fired five missiles (5).", 1) == "It fired five missiles (5) [1]."
    assert with_marker("He said “we will go.”", 2) == "He said “we will go.” [2]"
    assert refusal_text([], ["World Cup"]).startswith("The articles don't mention “World Cup”,")


def test_an_answer_shows_its_stages_then_its_sources(seed_settings: Settings) -> None:
    from rag.ui.handlers import Handlers

    h = Handlers(seed_settings)
    shown = [
        chat[-1]["content"]
        for chat, _ in h.respond(QUESTION, [], [], 6, "extractive", [], "", "", docs=[])
    ]
    assert "Searching 1 article…" in shown[0]
    assert any("Reading" in s and "passages…" in s for s in shown[1:-1]), shown
    assert 'class="src-card"' in shown[-1] and TIMING in shown[-1]
    # Stop leaves a note instead of a spinner; edit takes the last question back.
    chat = [{"role": "user", "content": "q"}, {"role": "assistant", "content": shown[0]}]
    assert "Stopped" in h.stopped(chat)[-1]["content"]
    question, rest, turns = h.edit_last(
        [
            {"role": "user", "content": render.user_html("It's <here>")},
            {"role": "assistant", "content": "a"},
        ],
        [("It's <here>", "a")],
    )
    assert question == "It's <here>" and rest == [] and turns == []


# -- packaging ----------------------------------------------------------------------------------


def test_rag_serve_starts_the_app_from_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import rag.ui
    from rag.cli import main as cli

    started: list[Settings] = []
    monkeypatch.setattr(rag.ui, "main", lambda settings: started.append(settings) or 0)
    assert cli(["--index", str(tmp_path / "idx"), "serve"]) == 0
    assert started[0].index_dir == tmp_path / "idx"
    # ui.py at the repository root is only a starter for rag.ui.
    assert "from rag.ui import main" in (REPO / "ui.py").read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_wheel_ships_the_ui_and_its_assets(tmp_path: Path) -> None:
    import zipfile

    # Built from a copy, so the build leaves nothing in the checkout.
    src = tmp_path / "src"
    shutil.copytree(REPO / "rag", src / "rag", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("rag_news-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (
        "rag/ui/app.py",
        "rag/ui/render.py",
        "rag/ui/handlers.py",
        "rag/ui/assets/ui.css",
        "rag/ui/assets/ui.js",
        "rag/library.py",
        "rag/uploads.py",
    ):
        assert name in names, name


def test_library_and_article_view_show_article_text_as_text() -> None:
    info = rag.ArticleInfo(
        doc_id='d"1',
        title="<img src=x onerror=alert(1)>",
        source="<b>O</b>",
        published=dt.date(2024, 1, 6),
        url="javascript:alert(1)",
        passages=3,
        origins=("upload: <x>.txt",),
        uploaded=True,
    )
    table = panels.library_html(rag.ArticlePage((info,), 31, 2, 15), selected=['d"1'])
    assert "<img" not in table and "<b>" not in table and "&lt;x&gt;.txt" in table
    assert 'value="d&quot;1" checked' in table and "16–16 of 31 articles · page 2 of 3" in table
    text = "Intro. <script>x()</script> is quoted. And [y](javascript:z) too."
    article = rag.Article("d1", text, title="<i>T</i>", url="javascript:alert(1)")
    a, b = text.index("<script>"), text.index(" is quoted")
    c = text.index("[y]")
    view = panels.article_html(article, [(a, b), (c, c + 3)], active=1)
    assert (
        "<script" not in view
        and "<i>" not in view
        and "javascript:" not in view.replace("(javascript:z)", "")
    )
    assert '<mark class="cited">&lt;script&gt;x()&lt;/script&gt;</mark>' in view
    assert '<mark class="cited active">[y]</mark>' in view and "2 cited quotes" in view


def test_answerer_choices_come_from_the_registry(seed_settings: Settings) -> None:
    from rag.protocols import answerers
    from rag.ui.app import answerer_choices

    names = [name for _, name in answerer_choices(seed_settings)]
    assert names == answerers.names() and {"extractive", "llm"} <= set(names)
    local = dict((n, label) for label, n in answerer_choices(seed_settings.replace(llm="local")))
    assert local["llm"] == "LLM (bundled local model)"


# -- dates: as of a day, the resolved range, old evidence, facets -----------------------------


def test_as_of_resolves_the_question_and_the_answer_says_so(seed_settings: Settings) -> None:
    from rag.ui.handlers import Handlers

    h = Handlers(seed_settings)
    asked = "What did the missile launch this week show?"
    shown = [
        c[-1]["content"]
        for c, _ in h.respond(asked, [], [], 6, "extractive", [], "", "", "20/01/2024")
    ]
    final = shown[-1]
    assert 'class="answer-dates"' in final
    assert "as of 2024-01-20" in final and "2024-01-14..2024-01-20" in final
    # The one article is from 2024-01-06: older than "this week", and the answer says so.
    assert '<p class="age-note" role="note">Note: the newest article' in final
    assert "2024-01-06" in final.split('class="age-note"')[1]
    # An as-of day before every article: nothing published then, so nothing is answered.
    early = [
        c[-1]["content"]
        for c, _ in h.respond(asked, [], [], 6, "extractive", [], "", "", "2023-12-01")
    ]
    assert 'class="refusal"' in early[-1] and "as of 2023-12-01" in early[-1]


def test_a_bad_as_of_day_is_an_error_that_names_the_setting(seed_settings: Settings) -> None:
    import gradio as gr

    from rag.ui.handlers import Handlers

    h = Handlers(seed_settings)
    with pytest.raises(gr.Error, match="As of: “next Tuesday” is not a date"):
        h.accept(QUESTION, [], "", "", [], "next Tuesday", None)  # type: ignore[arg-type]
    chips, errors, _ = h.show_filters([], "", "", [], "31/02/2024")
    assert "As of" in errors and "31/02/2024" in errors and chips == ""
    chips, errors, _ = h.show_filters([], "", "", [], "2024-01-20")
    assert "as of 20 Jan 2024" in chips and errors == ""
    text, data = h.api_answer(QUESTION, "", "2024-01-20")
    assert data["trace"]["dates"] == "as of 2024-01-20" and "[1]" in text


def test_date_facets_show_the_span_and_the_articles_per_month(seed_settings: Settings) -> None:
    stats = rag.stats(settings=seed_settings)
    status = panels.status_html(stats)
    assert "Published 2024-01-06</summary>" in status
    assert '<th scope="row">2024-01</th><td class="num">1</td>' in status
    many = panels.date_facets_html(
        {
            "articles": 7,
            "first_published": "2023-11-02",
            "last_published": "2024-01-30",
            "per_month": {"2023-11": 1, "2023-12": 4, "2024-01": 1},
        }
    )
    assert "Published 2023-11-02 to 2024-01-30 (1 article without a date)" in many
    rows = re.findall(r'<th scope="row">([\d-]+)</th>', many)
    assert rows == ["2024-01", "2023-12", "2023-11"]  # newest first
    assert 'style="width: 100%"' in many and 'style="width: 25%"' in many
    assert panels.date_facets_html({"articles": 0}) == ""


# -- feeds and article URLs, against a real HTTP server on 127.0.0.1 ----------------------------


def test_feeds_and_article_urls_from_the_add_articles_panel(site: Site, local: Settings) -> None:
    import gradio as gr

    from rag.ui.library import Library

    lib = Library(local)
    site.serve("/launch.html", page("Heron launch", LAUNCH))
    feed = site.serve(
        "/feed.xml",
        rss(
            [("Heron launch", "/launch.html", "Tue, 05 Mar 2024 08:00:00 GMT")],
            title=html.escape('<img src=x onerror="alert(1)">Herald'),
        ),
        content_type="application/rss+xml",
    )
    box, report, status, _, table, choices = lib.add_url(f"  {feed}  ")
    assert box == "" and "Subscribed to" in report and "1 article added" in report
    assert "<img" not in report + table and "&lt;img src=x" in table
    assert "just now" in table and "<td>ok</td>" in table and feed in table
    assert choices["choices"] == [(f'<img src=x onerror="alert(1)">Herald ({feed})', feed)]
    assert "<b>1 article</b>" in status

    # An article's page is indexed as an article, without a subscription.
    flood = site.serve("/flood.html", page("Marlow floods", FLOOD, "2024-03-06"))
    box, report, status, _, table, _ = lib.add_url(flood)
    assert box == "" and "1 article added" in report and "Subscribed" not in report
    assert "<b>2 articles</b>" in status and table.count("<tr>") == 2  # header + one feed

    # Bad addresses: each says what was wrong, keeps the text to correct, stores nothing.
    for bad, reason in (
        (site.base + "/missing.html", "HTTP 404"),
        ("ftp://example.com/feed.xml", "only http and https"),
        (site.serve("/nav.html", "<html><body><nav>Home</nav></body></html>"), "no article text"),
    ):
        box, report, status, *_ = lib.add_url(bad)
        assert box == bad and reason in report, (bad, report)
        assert "<b>2 articles</b>" in status
    for typed in ("", "example.com/rss", "javascript:alert(1)"):
        with pytest.raises(gr.Error):
            lib.add_url(typed)

    # The feed stops working: the next fetch records the error next to the subscription.
    site.routes.pop("/feed.xml")
    report, status, _, table, _ = lib.sync_feeds()
    assert "HTTP 404" in report and 'class="feed-error"' in table and "HTTP 404" in table
    assert "<b>2 articles</b>" in status  # nothing stored was touched

    note, table, choices = lib.remove_feed(feed)
    assert "Unsubscribed" in note and "&lt;img" in note and "<img" not in note
    assert "No feed subscriptions yet" in table and choices["choices"] == []
    with pytest.raises(gr.Error, match="no subscription"):
        lib.remove_feed(feed)
    assert rag.stats(settings=local)["articles"] == 2  # the feed's article stays


# -- the local model's queue --------------------------------------------------------------------


def test_generations_take_turns_in_order_and_say_how_many_are_ahead() -> None:
    import threading

    from rag.local_llm import Turns

    turns = Turns()
    order: list[str] = []
    release = threading.Event()
    started = {name: threading.Event() for name in "abc"}
    threads: dict[str, threading.Thread] = {}

    def run(name: str) -> None:
        started[name].set()
        with turns.turn():
            order.append(name)
            if name == "a":
                release.wait(10)

    for name in "abc":
        threads[name] = threading.Thread(target=run, args=(name,))
        threads[name].start()
        started[name].wait(5)
        deadline = time.monotonic() + 5
        while name != "a" and turns.ahead(threads[name].ident or 0) is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    assert turns.waiting == 2
    assert turns.ahead(threads["b"].ident or 0) == 1  # a runs
    assert turns.ahead(threads["c"].ident or 0) == 2  # a runs, b waits
    assert turns.ahead(threading.get_ident()) is None
    release.set()
    for t in threads.values():
        t.join(10)
    assert order == ["a", "b", "c"] and turns.waiting == 0


@pytest.mark.slow
@needs_model
def test_a_question_waiting_for_the_local_model_shows_its_place(seed_settings: Settings) -> None:
    import threading

    from rag.local_llm import load, model_file
    from rag.ui.handlers import Handlers

    s = seed_settings.replace(llm="local", answerer="llm", llm_max_tokens=40)
    model = load(model_file(s.cache_dir, s.llm_model_path), s.llm_threads, s.llm_context)
    busy, done = threading.Event(), threading.Event()

    def another_session() -> None:  # holds the model as a long generation would
        with model.turns.turn():
            busy.set()
            done.wait(60)

    holder = threading.Thread(target=another_session)
    holder.start()
    busy.wait(10)
    shown: list[str] = []
    for chat, _ in Handlers(s).respond(QUESTION, [], [], 6, "llm", [], "", ""):
        shown.append(chat[-1]["content"])
        if "Waiting for the model: 1 ahead" in shown[-1]:
            done.set()  # the other generation ends: this one's turn comes
    holder.join(10)
    assert any("Waiting for the model: 1 ahead" in c for c in shown), shown[:5]
    assert 'class="src-card"' in shown[-1] and not model.waiting
