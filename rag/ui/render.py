"""HTML for the web UI. Every string from an article or a user is escaped here, nowhere else.

Messages render as HTML we build ourselves (never Markdown, so article text such as
``[x](javascript:...)`` stays text); links are only ever plain http(s) URLs.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Sequence
from urllib.parse import quote, urlsplit

import rag
from rag.text import AGE_NOTE, MARKER

CONTEXT_CHARS = 280  # passage text shown either side of a quote


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
    """Escaped text with its line breaks kept."""
    return esc(text).replace("\n", "<br>")


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 article``, ``2 articles``, ``1,429 articles``."""
    return f"{count:,} {noun if count == 1 else (many or noun + 's')}"


def day(value: dt.date | str | None) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value or "")


def long_day(value: dt.date) -> str:
    """A date nobody can read two ways: ``6 Jan 2024``."""
    return f"{value.day} {value:%b %Y}"


# -- answers ------------------------------------------------------------------------------------


def source_anchor(turn: int, n: int) -> str:
    """The id of quote ``n`` of answer ``turn`` (inside its article's card); unique per chat."""
    return f"src-{turn}-{n}"


def answer_anchor(turn: int) -> str:
    return f"answer-{turn}"


def read_href(doc_id: str, spans: Sequence[tuple[int, int]], active: tuple[int, int]) -> str:
    """A link the page's script turns into "open the article view": ``#read:doc:spans:active``."""
    listed = ",".join(f"{a}-{b}" for a, b in spans)
    return f"#read:{quote(doc_id, safe='')}:{listed}:{active[0]}-{active[1]}"


def link_markers(text: str, turn: int, citations: Sequence[rag.Citation]) -> str:
    """Escaped answer text whose markers [n] are links to quote n, with a preview in title."""
    by_n = {c.n: c for c in citations}

    def link(match: re.Match[str]) -> str:
        c = by_n.get(int(match.group(1)))
        if c is None:
            return match.group(0)
        preview = " · ".join(x for x in (c.title, c.source, day(c.published)) if x)
        tip = f"{preview}\n“{c.quote}”"
        return (
            f'<a class="marker" href="#{source_anchor(turn, c.n)}" title="{esc(tip)}" '
            f'aria-label="source {c.n}: {esc(c.title or "untitled article")}">[{c.n}]</a>'
        )

    return MARKER.sub(link, text_html(text))


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
    mark = f'<mark class="quote">{text_html(citation.quote)}</mark>'
    if passage is None:
        return mark
    # Citation offsets are article offsets; the passage starts at passage.start in the article.
    a, b = citation.start - passage.start, citation.end - passage.start
    if not (0 <= a < b <= len(passage.text)) or passage.text[a:b] != citation.quote:
        a = passage.text.find(citation.quote)
        if a < 0 or not citation.quote:
            return mark
        b = a + len(citation.quote)
    before = _trim(passage.text[:a], CONTEXT_CHARS, left=True)
    after = _trim(passage.text[b:], CONTEXT_CHARS, left=False)
    return f"{text_html(before)}{mark}{text_html(after)}"


def highlighted_passages(citations: Sequence[rag.Citation], passage: rag.Passage | None) -> str:
    """A passage with every one of its quotes highlighted (one quote: as highlighted_passage)."""
    if passage is None or len(citations) == 1:
        return "".join(highlighted_passage(c, passage) for c in citations)
    spans = []
    for c in citations:
        a, b = c.start - passage.start, c.end - passage.start
        if not (0 <= a < b <= len(passage.text)) or passage.text[a:b] != c.quote:
            a = passage.text.find(c.quote)
            b = a + len(c.quote)
        if a >= 0 and c.quote:
            spans.append((a, b))
    spans.sort()
    out: list[str] = []
    pos = 0
    for a, b in spans:
        if a < pos:
            continue
        keep = CONTEXT_CHARS if not out else CONTEXT_CHARS * 2
        out.append(text_html(_trim(passage.text[pos:a], keep, left=True)))
        out.append(f'<mark class="quote">{text_html(passage.text[a:b])}</mark>')
        pos = b
    out.append(text_html(_trim(passage.text[pos:], CONTEXT_CHARS, left=False)))
    return "".join(out)


def relevance_bar(score: float) -> str:
    """The citation's score (0-1) as a small bar; the number is in its tooltip."""
    value = min(max(float(score), 0.0), 1.0)
    tip = f"relevance {value:.2f} (how strongly the quote answers the question, 0-1)"
    return (
        f'<span class="relevance" title="{esc(tip)}" role="img" aria-label="{esc(tip)}">'
        f'<span class="relevance-fill" style="width: {value * 100:.0f}%"></span></span>'
    )


def group_by_article(citations: Sequence[rag.Citation]) -> list[list[rag.Citation]]:
    """Citations grouped by article, articles in the order of their first marker."""
    groups: dict[str, list[rag.Citation]] = {}
    for c in sorted(citations, key=lambda c: c.n):
        groups.setdefault(c.doc_id, []).append(c)
    return list(groups.values())


def source_card(
    quotes: Sequence[rag.Citation], passages: Sequence[rag.Passage], turn: int, k: int
) -> str:
    """One article: title, outlet, date, links, and each of its quotes inside its passage."""
    first = quotes[0]
    meta = " · ".join(esc(x) for x in (first.source, day(first.published)) if x)
    url = safe_url(first.url)
    spans = [(c.start, c.end) for c in quotes]
    links = [
        f'<a class="read-article" href="{esc(read_href(first.doc_id, spans, spans[0]))}">'
        "read the article here</a>"
    ]
    if url:
        links.append(
            f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer">open original</a>'
        )
    numbers = "".join(f"[{c.n}]" for c in quotes)
    # Quotes from one passage share it: shown once, each quote highlighted inside it.
    by_passage: dict[str, list[tuple[rag.Citation, rag.Passage | None]]] = {}
    for c in quotes:
        passage = rag.find_passage(c, passages)
        key = passage.chunk_id if passage is not None else f"quote-{c.n}"
        by_passage.setdefault(key, []).append((c, passage))
    items = []
    for group in by_passage.values():
        cs = [c for c, _ in group]
        heads = "".join(
            f'<span class="quote-head" id="{source_anchor(turn, c.n)}">'
            f'<span class="quote-n">[{c.n}]</span>{relevance_bar(c.score)}'
            f'<a class="in-article" href="{esc(read_href(c.doc_id, spans, (c.start, c.end)))}">'
            "show in article</a></span>"
            for c in cs
        )
        items.append(
            f'<li class="src-quote">{heads}'
            f'<blockquote class="src-passage">{highlighted_passages(cs, group[0][1])}'
            "</blockquote></li>"
        )
    title = esc(first.title or "Untitled article")
    return (
        f'<div class="src-card" id="card-{turn}-{k}">'
        f'<div class="src-title">{numbers} {title}</div>'
        f'<div class="src-meta">{meta}{" · " if meta else ""}{" · ".join(links)}</div>'
        f"{also_in_html(quotes)}"
        f'<ol class="src-quotes">{"".join(items)}</ol>'
        f'<a class="back" href="#{answer_anchor(turn)}">↑ back to answer</a>'
        f"</div>"
    )


def also_in_html(quotes: Sequence[rag.Citation]) -> str:
    """The other outlets that carried the same story (collapsed copies), one link each."""
    seen: dict[str, rag.Reprint] = {}
    for c in quotes:
        for r in c.also_in:
            if r.doc_id != c.doc_id:
                seen.setdefault(r.doc_id, r)
    if not seen:
        return ""
    items = []
    for r in seen.values():
        name = esc(r.source or r.title or "another article")
        url = safe_url(r.url)
        if url:
            name = f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer">{name}</a>'
        details = ", ".join(esc(x) for x in (day(r.published), r.title) if x)
        items.append(f"<li>{name}{f' ({details})' if details else ''}</li>")
    return (
        '<div class="also-in"><span class="also-in-label">Also carried by</span>'
        f"<ul>{''.join(items)}</ul></div>"
    )


def sources_html(answer: rag.Answer, turn: int) -> str:
    """One card per cited article, in marker order, under a collapsible heading."""
    if not answer.citations:
        return ""
    groups = group_by_article(answer.citations)
    cards = "".join(source_card(g, answer.passages, turn, k) for k, g in enumerate(groups, start=1))
    label = plural(len(groups), "source")
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


def answer_plaintext(answer: rag.Answer) -> str:
    """What Copy gives: the answer's text, then a numbered list of its sources."""
    lines = [answer.text.strip()]
    if answer.citations:
        lines += ["", "Sources:"]
    for c in sorted(answer.citations, key=lambda c: c.n):
        meta = ", ".join(x for x in (c.source, day(c.published)) if x)
        lines.append(f"[{c.n}] {c.title or 'Untitled article'}" + (f" ({meta})" if meta else ""))
        if safe_url(c.url):
            lines.append(f"    {c.url}")
        lines.append(f"    “{' '.join(c.quote.split())}”")
        others = [", ".join(x for x in (r.source, day(r.published)) if x) for r in c.also_in]
        if others:
            lines.append(f"    also carried by: {'; '.join(others)}")
    return "\n".join(lines)


def copy_block(text: str) -> str:
    """The plain text the page's Copy button puts on the clipboard (hidden from view)."""
    return f'<div class="copy-text">{esc(text)}</div>'


def dates_html(trace: rag.Trace) -> str:
    """The day the question was answered as of and the range its words resolved to."""
    if not trace.dates:
        return ""
    return f'<p class="answer-dates"><span class="dates-label">Dates</span> {esc(trace.dates)}</p>'


def split_age_note(text: str) -> tuple[str, str]:
    """(the answer, the note that its evidence is old, or "")."""
    head, sep, tail = text.partition(AGE_NOTE)
    return (head.rstrip(), sep + tail) if sep else (text, "")


def answer_html(answer: rag.Answer, turn: int) -> str:
    """A finished answer: linked markers and its sources, or a distinct refusal notice."""
    copy = copy_block(answer_plaintext(answer))
    dates = dates_html(answer.trace)
    if answer.refused:
        return (
            f'<div class="refusal" id="{answer_anchor(turn)}"><span class="refusal-title">'
            f"Not answered from these articles</span>{text_html(answer.text)}</div>"
            f"{dates}{why_html(answer.trace)}{copy}"
        )
    text, note = split_age_note(answer.text)
    if note:
        note = f'<p class="age-note" role="note">{text_html(note)}</p>'
    body = (
        f'<div class="answer-text" id="{answer_anchor(turn)}">'
        f"{link_markers(text, turn, answer.citations)}</div>{note}"
    )
    return body + dates + sources_html(answer, turn) + why_html(answer.trace) + copy


def pending_html(text: str, stage: str = "") -> str:
    """An answer still in the works: the stage it is at, then the text streamed so far."""
    status = f'<div class="stage" role="status">{esc(stage)}</div>' if stage else ""
    body = f'<div class="answer-text pending">{text_html(text)}</div>' if text else ""
    return (status + body) or '<div class="stage" role="status">Working…</div>'


def stopped_html(text: str) -> str:
    shown = f'<div class="answer-text pending">{text_html(text)}</div>' if text else ""
    return f'{shown}<div class="stopped">Stopped. Ask again or press Regenerate.</div>'


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
