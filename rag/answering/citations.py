"""Quotes and markers: sentences of passages located in their articles, and Citation objects.

Shared by every answerer, so a citation always holds an exact quote:
``quote == article.text[start:end]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..chunking import sentence_spans
from ..types import Citation, Passage


@dataclass(frozen=True)
class Sentence:
    """A sentence of a retrieved passage, with its offsets in the article."""

    text: str
    start: int
    end: int
    passage: Passage
    rank: int  # the passage's position in the retrieval order
    vector: Any = field(default=None, compare=False, repr=False)  # stored at ingest, if it was

    @property
    def key(self) -> tuple[str, int, int]:
        return self.passage.doc_id, self.start, self.end


def passage_sentences(passages: Sequence[Passage]) -> list[Sentence]:
    """Every sentence of the passages, once each (chunks overlap), in retrieval order."""
    seen: set[tuple[str, int, int]] = set()
    out: list[Sentence] = []
    for rank, p in enumerate(passages):
        spans = sentence_spans(p.text)
        vectors = p.sentence_vectors
        if vectors is None or len(vectors) != len(spans):  # none stored, or another chunker's
            vectors = [None] * len(spans)
        for (s, e), vector in zip(spans, vectors, strict=True):
            sent = Sentence(p.text[s:e], p.start + s, p.start + e, p, rank, vector)
            if sent.key not in seen:
                seen.add(sent.key)
                out.append(sent)
    return out


def citation(n: int, sentence: Sentence, score: float) -> Citation:
    p = sentence.passage
    return Citation(
        n=n,
        doc_id=p.doc_id,
        title=p.title,
        source=p.source,
        published=p.published,
        url=p.url,
        quote=sentence.text,
        start=sentence.start,
        end=sentence.end,
        score=float(score),
        chunk_id=p.chunk_id,
        also_in=p.also_in,
    )
