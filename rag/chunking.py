"""Article -> Chunks that remember their character offsets in the article text.

Chunks are runs of whole sentences (``article.text[start:end] == chunk.text``),
packed up to ``size`` characters, with trailing sentences of one chunk repeated at
the start of the next up to ``overlap`` characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .text import heading_line
from .types import Article, Chunk

# Part of the index generation: bump it when chunk boundaries change.
CHUNKER_VERSION = "1"

_LINE = re.compile(r"[^\n]+")
_WORD_BREAK = re.compile(r"\s+")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, whitespace trimmed; lines always end a sentence."""
    import blingfire

    spans: list[tuple[int, int]] = []
    for line in _LINE.finditer(text):
        base = line.start()
        body = line.group()
        if not body.strip():
            continue
        _, offsets = blingfire.text_to_sentences_and_offsets(body)
        if not offsets:
            offsets = [(0, len(body))]
        for s, e in offsets:
            s, e = _trim(body, s, e)
            if e > s:
                spans.append((base + s, base + e))
    return spans


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split_long(text: str, start: int, end: int, size: int) -> Iterator[tuple[int, int]]:
    """Cut a sentence longer than ``size`` at word breaks (rare: tables, run-ons)."""
    while end - start > size:
        cut = start + size
        breaks = [m.start() for m in _WORD_BREAK.finditer(text, start + size // 2, cut)]
        if breaks:
            cut = breaks[-1]
        s, e = _trim(text, start, cut)
        if e > s:
            yield s, e
        start, _ = _trim(text, cut, end)
    if end > start:
        yield start, end


def chunk_article(article: Article, size: int = 700, overlap: int = 150) -> list[Chunk]:
    """Split an article into sentence-aligned chunks with exact offsets."""
    text = article.text
    sentences = [piece for s, e in sentence_spans(text) for piece in _split_long(text, s, e, size)]
    chunks: list[Chunk] = []
    i = 0
    while i < len(sentences):
        start = sentences[i][0]
        j = i
        while j + 1 < len(sentences) and sentences[j + 1][1] - start <= size:
            j += 1
        # A heading belongs with the text after it, not at the end of a chunk.
        while j > i and heading_line(text, *sentences[j]):
            j -= 1
        end = sentences[j][1]
        chunks.append(Chunk(article.doc_id, len(chunks), text[start:end], start, end))
        if j + 1 >= len(sentences):
            break
        # Start the next chunk with as many trailing sentences as fit in the overlap,
        # but always move forward by at least one sentence.
        nxt = j + 1
        while nxt - 1 > i and end - sentences[nxt - 1][0] <= overlap:
            nxt -= 1
        i = nxt
    return chunks
