"""The web UI in a real Chromium: streamed answers with sources, follow-ups, uploads, escaping.

Uses Debian's /usr/bin/chromium (`make browser` installs it); Playwright never downloads one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from test_ui import FOLLOW_UP, QUESTION, TIMING, Server, start_ui, stop_ui

from rag.config import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FIRST_ANSWER_MS = 90_000  # models load on the first question
ANSWER_MS = 45_000
SCREENSHOT = REPO / "docs" / "screenshot.png"

# An article whose title and sentences carry markup that must show as text and run nothing.
HOSTILE_ARTICLE = """\
Vellmora Harbour Festival Draws Record Crowds <img src=x onerror="window.__xss=1">
Coastal Herald 03-02-2024
The Vellmora harbour festival drew a record 48,000 visitors over the weekend \
<script>window.__xss=1</script>, organisers said on Sunday.
Fireworks over Vellmora harbour were cancelled because of strong winds, and residents shared \
a petition link [click](javascript:window.__xss=1) asking for a new date.
The mayor of Vellmora, Ilse Marrow, said the festival would return next summer with a larger \
fish market.
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, seed_settings: Settings) -> Iterator[Server]:
    running = start_ui(tmp_path_factory.mktemp("ui-browser"), seed_settings)
    yield running
    stop_ui(running)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: run `make browser` (apt-get install chromium)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def open_page(browser: Any, server: Server) -> Any:
    """A page in a fresh browser context: its own cookies, storage and Gradio session."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_selector("#question textarea")
    return page


def ask(page: Any, question: str) -> None:
    page.locator("#question textarea").fill(question)
    page.locator("#question textarea").press("Enter")


def bot_messages(page: Any) -> Any:
    return page.locator('#chat [data-testid="bot"]')


def wait_for_answers(page: Any, count: int, timeout: float = ANSWER_MS) -> Any:
    """The count-th answer once it is complete (a source card, a refusal or an error)."""
    done = '#chat [data-testid="bot"]:has(.src-card, .refusal, .error-note)'
    page.wait_for_function(
        f"document.querySelectorAll({done!r}).length >= {count}", timeout=timeout
    )
    return bot_messages(page).nth(count - 1)


def scroll_chat_to_top(page: Any) -> None:
    page.locator("#chat .bubble-wrap").evaluate("el => el.scrollTo(0, 0)")


# True once the card with this id sits at the top of the chat's scrolling area, which only an
# anchor jump does: the marker is above its card, so merely scrolling the marker into view
# would leave the card lower down.
CARD_AT_TOP = """id => {
  const card = document.getElementById(id).getBoundingClientRect();
  const chat = document.querySelector('#chat .bubble-wrap').getBoundingClientRect();
  return Math.abs(card.top - chat.top) < 60;
}"""


def test_chat_answers_with_sources_follow_ups_and_separate_sessions(
    browser: Any, server: Server
) -> None:
    from playwright.sync_api import expect

    page = open_page(browser, server)
    first_example = page.locator("#examples button").first
    expect(first_example).to_have_text(QUESTION)
    first_example.click()
    answer = wait_for_answers(page, 1, FIRST_ANSWER_MS)

    # The marker links to its source card, whose passage highlights the exact quote.
    expect(answer.locator('a.marker[href="#src-1-1"]')).to_have_text("[1]")
    expect(answer.locator("#src-1-1 mark.quote")).to_contain_text(TIMING)
    expect(answer.locator("#src-1-1 .src-meta")).to_contain_text("2024-01-06")
    scroll_chat_to_top(page)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))

    # A follow-up is read in the light of this session's first question.
    ask(page, FOLLOW_UP)
    follow = wait_for_answers(page, 2)
    expect(follow.locator(".refusal")).to_have_count(0)
    expect(follow.locator("#src-2-1 mark.quote")).to_contain_text("Patrick Fok")

    # Clicking a marker of the first answer brings that answer's source card into view.
    marker = answer.locator("a.marker").last
    target = str(marker.get_attribute("href"))
    scroll_chat_to_top(page)
    marker.click()
    page.wait_for_function(CARD_AT_TOP, arg=target[1:])
    assert page.url.endswith(target)

    # Another browser session starts empty and knows nothing of that conversation.
    other = open_page(browser, server)
    expect(bot_messages(other)).to_have_count(0)
    ask(other, FOLLOW_UP)
    expect(wait_for_answers(other, 1).locator(".refusal")).to_have_count(1)
    expect(bot_messages(page)).to_have_count(2)

    # New chat forgets the conversation, so the same follow-up no longer has a referent.
    page.locator("#new-chat").click()
    expect(bot_messages(page)).to_have_count(0)
    ask(page, FOLLOW_UP)
    expect(wait_for_answers(page, 1).locator(".refusal")).to_have_count(1)
    other.context.close()
    page.context.close()


def test_uploaded_article_is_answered_and_its_markup_stays_text(
    browser: Any, server: Server, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    article = tmp_path / "vellmora festival.txt"
    article.write_text(HOSTILE_ARTICLE, encoding="utf-8")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"this is not a PDF")
    page = open_page(browser, server)
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:  # an alert() from article text would land here
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)

    page.locator("#upload input[type=file]").set_input_files([str(article), str(broken)])
    report = page.locator("#upload-report")
    expect(report).to_contain_text("1 added", timeout=ANSWER_MS)
    expect(report.locator("ul.skipped li")).to_contain_text("broken.pdf")
    expect(page.locator("#index-status")).to_contain_text(re.compile(r"2\s+articles"))
    assert (server.corpus / "uploads" / "vellmora_festival.txt").is_file()

    ask(page, "How many visitors did the Vellmora harbour festival draw?")
    answer = wait_for_answers(page, 1)
    expect(answer.locator("mark.quote").first).to_contain_text("48,000 visitors")
    expect(answer.locator(".answer-text")).to_contain_text("<script>window.__xss=1</script>")
    expect(answer.locator(".src-title").first).to_contain_text('<img src=x onerror="window.')

    ask(page, "Why were the fireworks over Vellmora harbour cancelled?")
    answer = wait_for_answers(page, 2)
    expect(answer.locator(".answer-text")).to_contain_text("[click](javascript:window.__xss=1)")

    chat = page.locator("#chat")
    expect(chat.locator("script")).to_have_count(0)
    expect(chat.locator("img[onerror], img[src='x']")).to_have_count(0)
    expect(page.locator('a[href^="javascript:"]')).to_have_count(0)
    answer.get_by_text("[click](javascript:window.__xss=1)").first.click()
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert dialogs == []
    page.context.close()
