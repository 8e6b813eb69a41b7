"""The web UI in a real Chromium: answers with sources, follow-ups, uploads, escaping, Copy,
screen-reader labels, date filters, the library, the article view, saved chats, a phone.

Uses Debian's /usr/bin/chromium (`make browser` installs it); Playwright never downloads one.
``docs/screenshot.png`` is written only with UPDATE_SCREENSHOT=1 (``make screenshot``).
"""

from __future__ import annotations

import html
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, Site
from test_feeds import FLOOD, page, rss
from test_retrieval import COPY_A, COPY_B
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
WRITE_SCREENSHOT = os.environ.get("UPDATE_SCREENSHOT") == "1"

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
    # Feeds and pages come from the test's own server on 127.0.0.1, which the UI may fetch.
    running = start_ui(
        tmp_path_factory.mktemp("ui-browser"),
        seed_settings,
        env_extra={"RAG_FETCH_ALLOW_PRIVATE": "1", "RAG_FETCH_DELAY": "0"},
    )
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


def open_page(browser: Any, server: Server, **options: Any) -> Any:
    """A page in a fresh browser context: its own cookies, storage and Gradio session."""
    options.setdefault("viewport", {"width": 1280, "height": 1000})
    context = browser.new_context(**options)
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
    expect(answer.locator(".src-quote:has(#src-1-1) mark.quote")).to_contain_text(TIMING)
    expect(answer.locator(".src-card:has(#src-1-1) .src-meta")).to_contain_text("2024-01-06")
    scroll_chat_to_top(page)
    if WRITE_SCREENSHOT:
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))

    # A follow-up is read in the light of this session's first question.
    ask(page, FOLLOW_UP)
    follow = wait_for_answers(page, 2)
    expect(follow.locator(".refusal")).to_have_count(0)
    expect(follow.locator(".src-quote:has(#src-2-1) mark.quote")).to_contain_text("Patrick Fok")

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
    expect(report).to_contain_text("1 article added", timeout=ANSWER_MS)
    expect(report.locator("ul.skipped li")).to_contain_text("broken.pdf")
    # Counts are of this upload only, and a skipped file is not kept to be reported again.
    expect(report).not_to_contain_text("unchanged")
    expect(page.locator("#index-status")).to_contain_text(re.compile(r"2\s+articles"))
    assert (server.corpus / "uploads" / "vellmora_festival.txt").is_file()
    assert not (server.corpus / "uploads" / "broken.pdf").exists()

    # The same article again under another name is named, not absorbed without a word.
    again = tmp_path / "festival copy.txt"
    again.write_text(HOSTILE_ARTICLE, encoding="utf-8")
    page.locator("#upload input[type=file]").set_input_files([str(again)])
    expect(report.locator("ul.duplicates")).to_contain_text("already in the library")
    expect(report).not_to_contain_text("broken.pdf")  # the old report is gone

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


def test_typing_during_an_answer_is_kept_and_copy_gives_plain_text(
    browser: Any, server: Server
) -> None:
    from playwright.sync_api import expect

    page = open_page(browser, server)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    box = page.locator("#question textarea")
    ask(page, QUESTION)
    # Typed while the answer streams in: never erased by the answer's updates.
    box.press_sequentially("Who reported it", delay=20)
    answer = wait_for_answers(page, 1, FIRST_ANSWER_MS)
    expect(box).to_have_value("Who reported it")

    # Copy: the answer as plain text with a numbered source list, no HTML.
    page.locator('#chat .message-row:has([data-testid="bot"]) button[aria-label="Copy message"]')
    answer.hover()
    page.locator('#chat button[aria-label="Copy message"]').last.click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert TIMING in copied and "\nSources:\n[1] North Korea Launches Missile" in copied
    assert "2024-01-06" in copied and "<" not in copied and "&#" not in copied

    # Screen readers get the visible text: no markup, nothing double-escaped.
    labels = page.evaluate(
        '() => [...document.querySelectorAll("#chat [aria-label*=\\"\'s message: \\"]")]'
        ".map(e => e.getAttribute('aria-label'))"
    )
    assert len(labels) == 2, labels
    assert all("<" not in label and "&#" not in label for label in labels), labels
    assert any(f"message: {QUESTION}" in label for label in labels), labels

    # One card per article, its quotes inside; each marker reaches its quote.
    expect(answer.locator(".src-card")).to_have_count(1)
    markers = answer.locator("a.marker")
    assert markers.count() >= 2
    for i in range(markers.count()):
        target = str(markers.nth(i).get_attribute("href"))
        expect(answer.locator(f".src-card .src-quote {target}.quote-head")).to_have_count(1)
        box_size = markers.nth(i).bounding_box()
        assert box_size["width"] >= 24 and box_size["height"] >= 24, box_size
    # Markers look like links, preview their quote on hover, and the card leads back.
    marker = markers.first
    assert marker.evaluate("e => getComputedStyle(e).textDecorationLine") == "underline"
    marker.hover()
    expect(page.locator(".marker-preview")).to_contain_text("North Korea Launches Missile")
    expect(page.locator(".marker-preview")).to_contain_text(TIMING)
    expect(answer.locator('.src-card a.back[href="#answer-1"]')).to_have_count(1)
    expect(answer.locator(".quote-head .relevance[title^='relevance']")).to_have_count(
        markers.count()
    )
    page.context.close()


def test_dates_are_checked_and_shown_as_chips(browser: Any, server: Server) -> None:
    from playwright.sync_api import expect

    page = open_page(browser, server)
    page.locator("#settings").click()
    since = page.locator("#since input, #since textarea").first
    until = page.locator("#until input, #until textarea").first
    # The newest article's date, as a hint where to look (other tests upload newer ones).
    expect(page.locator("#newest")).to_contain_text(
        re.compile(r"Newest article: \d{1,2} \w{3} \d{4} \(\d{4}-\d\d-\d\d\)")
    )
    since.fill("2024-13-45")
    since.press("Tab")
    expect(page.locator("#date-error")).to_contain_text("is not a date")
    expect(page.locator("#filter-chips")).not_to_contain_text("from")
    # A question asked with the bad date is not answered (and not silently unfiltered).
    ask(page, QUESTION)
    expect(page.locator(".toast-wrap")).to_contain_text("is not a date")
    expect(bot_messages(page)).to_have_count(0)
    expect(page.locator("#question textarea")).to_have_value(QUESTION)

    since.fill("")
    since.press("Tab")
    until.fill("06/01/2024")  # day first, as in the articles' bylines
    until.press("Tab")
    expect(page.locator("#date-error")).to_have_text("")
    expect(page.locator("#filter-chips .chip")).to_have_text("until 6 Jan 2024")
    page.locator("#clear-filters").click()
    expect(page.locator("#filter-chips .chip")).to_have_count(0)
    expect(until).to_have_value("")
    page.context.close()


def test_a_question_over_the_limit_is_counted_and_kept(browser: Any, server: Server) -> None:
    from playwright.sync_api import expect

    page = open_page(browser, server)
    box = page.locator("#question textarea")
    box.fill("why " * 600)  # 2,400 characters, over the 2,000 limit
    expect(page.locator("#q-counter")).to_contain_text("too long to send")
    box.press("Enter")
    page.wait_for_timeout(500)
    expect(bot_messages(page)).to_have_count(0)
    assert box.input_value().startswith("why why")
    page.context.close()


def test_article_view_highlights_the_quote_and_chats_survive_a_reload(
    browser: Any, server: Server
) -> None:
    from playwright.sync_api import expect

    page = open_page(browser, server)
    ask(page, QUESTION)
    answer = wait_for_answers(page, 1, FIRST_ANSWER_MS)
    tip = str(answer.locator('a.marker[href="#src-1-2"]').get_attribute("title"))
    quoted = tip.split("“", 1)[1].rstrip("”")
    answer.locator("#src-1-2 a.in-article").click()
    panel = page.locator("#article-panel")
    expect(panel).to_be_visible()
    expect(panel.locator("mark.cited")).to_have_count(answer.locator(".quote-head").count())
    expect(panel.locator("mark.active")).to_have_text(quoted)
    expect(panel.locator("mark.active")).to_be_in_viewport()
    expect(panel.locator(".article-body")).to_contain_text("Political Context in South Korea")
    page.locator("#close-article").click()
    expect(panel).to_be_hidden()

    # Regenerate answers the same question again; the chat is kept in this browser.
    page.locator("#regenerate").click()
    page.wait_for_timeout(300)
    answer = wait_for_answers(page, 1)
    expect(bot_messages(page)).to_have_count(1)
    page.wait_for_timeout(1000)  # the chat is saved after the answer
    page.reload()
    page.wait_for_selector("#question textarea")
    expect(bot_messages(page)).to_have_count(1)
    expect(bot_messages(page).first.locator(".src-quote:has(#src-1-1) mark.quote")).to_contain_text(
        TIMING
    )
    # A new chat keeps the old one in the list of past chats, which brings it back.
    page.locator("#new-chat").click()
    expect(bot_messages(page)).to_have_count(0)
    page.locator("#past-chats input").click()
    page.get_by_role("option", name=QUESTION).click()
    expect(bot_messages(page)).to_have_count(1)
    # Edit puts the last question back in the box and takes its answer away.
    page.locator("#edit").click()
    expect(page.locator("#question textarea")).to_have_value(QUESTION)
    expect(bot_messages(page)).to_have_count(0)
    page.context.close()


LIBRARY_ARTICLE = """\
Orvelle Library Opens a Seed Bank for Heirloom Tomatoes
Valley Gazette 12-03-2024
The Orvelle public library opened a seed bank on Tuesday that lends heirloom tomato seeds \
to residents, who return seeds from their own harvest in the autumn.
Librarian Tamsin Oakridge said 340 packets were borrowed in the first week.
"""


def test_library_lists_searches_asks_only_selected_and_deletes(
    browser: Any, server: Server, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    article = tmp_path / "orvelle seeds.txt"
    article.write_text(LIBRARY_ARTICLE, encoding="utf-8")
    page = open_page(browser, server)
    page.locator("#upload input[type=file]").set_input_files([str(article)])
    expect(page.locator("#upload-report")).to_contain_text("1 article added", timeout=ANSWER_MS)
    saved = server.corpus / "uploads" / "orvelle_seeds.txt"
    assert saved.is_file()

    page.get_by_role("tab", name="Library").click()
    table = page.locator("#library-table table.library")
    expect(table.locator("tbody tr")).not_to_have_count(0)
    page.locator("#library-search input, #library-search textarea").first.fill("orvelle")
    expect(table.locator("tbody tr")).to_have_count(1)
    row = table.locator("tbody tr").first
    expect(row).to_contain_text("Valley Gazette")
    expect(row).to_contain_text("2024-03-12")
    expect(row).to_contain_text("upload: orvelle_seeds.txt")

    # Ask only this article: a question about the other article's subject finds nothing.
    row.locator("input.pick").check()
    page.locator("#ask-only").click()
    expect(page.locator("#filter-chips .chip")).to_have_text("only 1 article")
    ask(page, "How many seed packets were borrowed in the first week?")
    answer = wait_for_answers(page, 1, FIRST_ANSWER_MS)
    expect(answer.locator("mark.quote").first).to_contain_text("340 packets")
    ask(page, "How far did the missile fly?")
    second = wait_for_answers(page, 2)
    expect(second).not_to_contain_text("1,100")

    # Delete it: gone from the table and the index, and its upload with it.
    page.get_by_role("tab", name="Library").click()
    expect(table.locator("tbody tr")).to_have_count(1)
    table.locator("input.pick").first.check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#delete").click()
    expect(page.locator("#library-note")).to_contain_text("Deleted “Orvelle Library Opens")
    expect(page.locator("#library-note")).to_contain_text("upload: orvelle_seeds.txt was deleted")
    expect(page.locator("#library-table")).to_contain_text("No articles match")
    assert not saved.exists()
    page.context.close()


# WCAG contrast of an element's text against the backgrounds it sits on (alpha composited).
CONTRAST = """(el, pseudo) => {
  const parse = (c) => {
    const p = c.match(/rgba?\\(([^)]+)\\)/)[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const lum = ({ r, g, b }) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4));
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const c = parse(getComputedStyle(e).backgroundColor);
    if (c.a > 0) layers.push(c);
    if (c.a >= 1) break;
  }
  let bg = { r: 255, g: 255, b: 255 };
  for (const c of layers.reverse()) {
    bg = { r: c.r * c.a + bg.r * (1 - c.a), g: c.g * c.a + bg.g * (1 - c.a),
           b: c.b * c.a + bg.b * (1 - c.a) };
  }
  const s = parse(getComputedStyle(el, pseudo || null).color);
  const a = s.a * Number(getComputedStyle(el).opacity);
  const mix = (k) => s[k] * a + bg[k] * (1 - a);
  const fg = { r: mix("r"), g: mix("g"), b: mix("b") };
  const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}"""


def test_a_phone_shows_the_question_box_and_settings_without_scrolling(
    browser: Any, server: Server
) -> None:
    from playwright.sync_api import expect

    page = open_page(
        browser,
        server,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    expect(page.locator("#question textarea")).to_be_in_viewport(ratio=1)
    expect(page.locator("#settings")).to_be_in_viewport(ratio=1)
    assert page.evaluate("scrollY") == 0
    # Small and faint text meets WCAG AA (4.5:1): the upload label, "- or -", the question
    # box's placeholder, the empty chat's placeholder, the status line and the footer.
    checks = {
        "#upload [data-testid='block-label']": None,
        "#upload .or": None,
        "#question textarea": "::placeholder",
        "#chat .placeholder": None,
        "#index-status p": None,
        "footer a, footer button": None,
    }
    for selector, pseudo in checks.items():
        ratio = page.locator(selector).first.evaluate(CONTRAST, pseudo)
        assert ratio >= 4.5, (selector, ratio)
    # The upload label does not cover "Drop File Here", the line above "- or -".
    label = page.locator("#upload [data-testid='block-label']").first.bounding_box()
    below = page.locator("#upload .or").first.bounding_box()
    assert label["y"] + label["height"] <= below["y"] - below["height"], (label, below)

    # On a touch screen the first tap on a marker previews its quote; the second jumps to it.
    ask(page, QUESTION)
    answer = wait_for_answers(page, 1, FIRST_ANSWER_MS)
    marker = answer.locator("a.marker").first
    marker.tap()
    expect(page.locator(".marker-preview")).to_contain_text(TIMING)
    assert "#src-" not in page.url
    marker.tap()
    page.wait_for_function("() => location.hash.startsWith('#src-1-')")
    page.context.close()


def _local_llm_installed() -> bool:
    from test_local_llm import _installed

    return _installed()


@pytest.mark.skipif(
    not _local_llm_installed(), reason="the local LLM is not installed: run `make llm`"
)
def test_the_local_llm_answers_in_the_browser(
    tmp_path_factory: pytest.TempPathFactory, seed_settings: Settings, browser: Any
) -> None:
    """With RAG_LLM=local the page streams the model's answer below the quotes and ends
    with a cited synthesis whose sources are cards, as for the extractive answerer."""
    from playwright.sync_api import expect

    running = start_ui(
        tmp_path_factory.mktemp("ui-llm"),
        seed_settings,
        env_extra={"RAG_LLM": "local", "RAG_LLM_MAX_TOKENS": "60"},
    )
    try:
        page = open_page(browser, running)
        ask(page, QUESTION)
        answer = wait_for_answers(page, 1, 240_000)
        expect(answer.locator(".src-card").first).to_be_visible()
        expect(answer.locator("a.marker").first).to_be_visible()
        expect(answer.locator(".refusal")).to_have_count(0)

        # Two sessions at once: one generation runs, the other shows its place in the queue.
        other = open_page(browser, running)
        ask(page, "Who reported the launch?")
        ask(other, QUESTION)
        waiting = "Waiting for the model: 1 ahead"
        deadline = time.monotonic() + 120
        seen = False
        stages = "() => [...document.querySelectorAll('#chat .stage')].map(e => e.textContent)"
        while not seen and time.monotonic() < deadline:
            seen = any(waiting in " ".join(p.evaluate(stages)) for p in (page, other))
            time.sleep(0.1)
        assert seen, "no session showed its place in the model's queue"
        for p in (page, other):
            expect(p.locator(".stage")).to_have_count(0, timeout=240_000)
        expect(wait_for_answers(other, 1, 240_000).locator(".src-card").first).to_be_visible()
        other.context.close()
        page.context.close()
    finally:
        stop_ui(running)


def test_a_feed_and_an_article_url_are_added_and_listed(
    browser: Any, server: Server, site: Site
) -> None:
    from playwright.sync_api import expect

    hostile = '<img src=x onerror="window.__xss=1">Marlow Gazette'
    site.serve("/flood.html", page("Marlow floods", FLOOD, "2024-03-06"))
    feed = site.serve(
        "/feed.xml",
        rss(
            [("Marlow floods", "/flood.html", "Wed, 06 Mar 2024 09:00:00 GMT")],
            html.escape(hostile),
        ),
        content_type="application/rss+xml",
    )
    tab = open_page(browser, server)
    box = tab.locator("#add-url input, #add-url textarea").first
    report = tab.locator("#url-report")

    # A bad address is named with its reason, and stays in the box to be corrected.
    missing = site.base + "/nothing.xml"
    box.fill(missing)
    tab.locator("#add-url-button").click()
    expect(report).to_contain_text("HTTP 404")
    expect(box).to_have_value(missing)

    box.fill(feed)
    tab.locator("#add-url-button").click()
    expect(report).to_contain_text("1 article added", timeout=ANSWER_MS)
    expect(report).to_contain_text("Subscribed to")
    expect(box).to_have_value("")
    feeds = tab.locator("#feeds table.feeds")
    expect(feeds).to_contain_text(hostile)  # the feed's title shown as text
    expect(feeds).to_contain_text("just now")
    expect(feeds.locator("td").last).to_have_text("ok")
    expect(tab.locator("#feeds img")).to_have_count(0)
    expect(tab.locator("#index-status details.date-facets summary")).to_contain_text("Published")
    expect(tab.locator("#index-status .per-month")).to_contain_text("2024-03")

    # Its article is answered, and its card shows the article's date.
    ask(tab, "Which bridge closed in Marlow?")
    answer = wait_for_answers(tab, 1)
    expect(answer.locator(".src-card .src-meta").first).to_contain_text("2024-03-06")
    assert tab.evaluate("typeof window.__xss") == "undefined"

    # Removing the subscription keeps its articles.
    tab.locator("#feed-pick input").click()
    tab.get_by_role("option", name=re.compile("Marlow Gazette")).click()
    tab.locator("#remove-feed").click()
    expect(report).to_contain_text("Unsubscribed")
    expect(tab.locator("#feeds")).to_contain_text("No feed subscriptions yet")
    tab.context.close()


def test_as_of_a_day_shows_the_dates_and_the_age_of_the_evidence(
    browser: Any, server: Server
) -> None:
    from playwright.sync_api import expect

    tab = open_page(browser, server)
    tab.locator("#settings").click()
    as_of = tab.locator("#as-of input, #as-of textarea").first
    as_of.fill("someday")
    as_of.press("Tab")
    expect(tab.locator("#date-error")).to_contain_text("As of: “someday” is not a date")
    as_of.fill("20/01/2024")
    as_of.press("Tab")
    expect(tab.locator("#filter-chips .chip")).to_have_text("as of 20 Jan 2024")
    ask(tab, "What did the missile launch this week show?")
    answer = wait_for_answers(tab, 1)
    expect(answer.locator(".answer-dates")).to_contain_text("as of 2024-01-20")
    expect(answer.locator(".answer-dates")).to_contain_text("2024-01-14..2024-01-20")
    expect(answer.locator(".age-note")).to_contain_text("2024-01-06")
    expect(answer.locator(".src-card .src-meta").first).to_contain_text("2024-01-06")
    tab.context.close()


def test_one_wire_story_from_two_outlets_is_one_source_with_both_named(
    browser: Any, server: Server, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    files = []
    for name, source, day, text in (
        ("herald.md", "Ostra Herald", "2024-05-02", COPY_A),
        ("courier.md", "Valley <i>Courier</i>", "2024-05-03", COPY_B),
    ):
        path = tmp_path / name
        path.write_text(
            f"---\ntitle: Halvorsen dam to come down\nsource: {source}\npublished: {day}\n"
            f"url: https://{name[:-3]}.example/dam\n---\n{text}\n",
            encoding="utf-8",
        )
        files.append(str(path))
    tab = open_page(browser, server)
    tab.locator("#upload input[type=file]").set_input_files(files)
    expect(tab.locator("#upload-report")).to_contain_text("2 articles added", timeout=ANSWER_MS)
    ask(tab, "How much will removing the Halvorsen Dam cost?")
    answer = wait_for_answers(tab, 1)
    card = answer.locator(".src-card:has(mark.quote:has-text('41 million'))")
    expect(card).to_have_count(1)
    expect(card.locator(".also-in")).to_contain_text("Also carried by")
    expect(card.locator(".also-in li")).to_have_count(1)
    expect(card.locator(".also-in")).to_contain_text(re.compile(r"Ostra Herald|<i>Courier</i>"))
    expect(card.locator(".also-in i")).to_have_count(0)
    tab.context.close()
