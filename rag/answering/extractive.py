"""The offline, deterministic answerer: quotes the sentences that best answer the question.

Every sentence of the answer is a verbatim sentence of a retrieved passage followed by
its marker, so the answer is faithful by construction, and text inside an article
(including anything that looks like instructions) can only ever be quoted, never obeyed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..types import Answer, Citation, Passage
from .citations import Sentence, citation, passage_sentences
from .text import content_terms, looks_like_heading, missing_entities

if TYPE_CHECKING:
    from ..models import Embedder, Reranker

Vectors = dict[tuple[str, int, int], Any]  # sentence key -> unit vector

# Cross-encoder logits. The threshold is calibrated on evals/seed.yaml and the MultiHop-RAG
# dev queries (see evals/README.md). Runners-up may be weaker than the best sentence, but
# not by much: a fact has one best sentence, while a reason ("why ...?") is often spread
# over several, which the cross-encoder scores further apart. Near-duplicates of a chosen
# sentence (cosine) are dropped.
DEFAULT_MIN_SCORE = -2.0
RUNNER_UP_GAP = 3.0
RUNNER_UP_GAP_EXPLAIN = 6.0
RUNNER_UP_SLACK = 3.0
REDUNDANT = 0.8
# Sentences the cross-encoder judges (about 20 ms each on 2 CPUs). On evals/seed.yaml and
# the MultiHop-RAG dev queries, 7 scored as well as 10; 5 lost answers.
CANDIDATES = 7


@dataclass(frozen=True)
class Scored:
    sentence: Sentence
    score: float  # the cross-encoder's logit
    dense: float  # cosine similarity with the query
    cheap: float  # the preselection score: similarity and word overlap


_EXPLAIN = re.compile(
    r"^\s*(?:why|how come|explain|describe)\b"
    r"|\b(?:significan\w*|notable|noteworthy|important|reason)\b",
    re.IGNORECASE,
)


def asks_for_explanation(question: str) -> bool:
    """Questions whose answer is a reason or a significance rather than one fact."""
    return bool(_EXPLAIN.search(question))


def refusal_text(passages: Sequence[Passage], missing: Sequence[str] = ()) -> str:
    """Say plainly that the articles don't hold the answer, and what they do cover nearby."""
    titles: list[str] = []
    for p in passages:
        label = p.title or p.text[:60]
        if label not in titles:
            titles.append(label)
    text = "The articles don't cover this, so I can't answer it from them."
    if missing:
        names = ", ".join(missing)
        text = f"The articles don't mention {names}, so I can't answer this from them."
    if titles:
        listing = "; ".join(f"“{t}”" for t in titles[:3])
        text += f" The closest topics they do cover: {listing}."
    return text


def with_marker(sentence: str, n: int) -> str:
    """Put the marker before the closing punctuation: 'It flew 1,100 km [1].'"""
    end = len(sentence)
    while end and sentence[end - 1] in ".!?\"'”’)":
        end -= 1
    if end == 0:
        return f"{sentence} [{n}]"
    return f"{sentence[:end]} [{n}]{sentence[end:]}"


class ExtractiveAnswerer:
    """Picks 1-3 supporting sentences, drops redundant ones, cites each.

    Candidate sentences are ranked cheaply (embedding similarity and word overlap), then
    the best few are judged by the cross-encoder, whose score decides both the answer
    and the refusal: the best sentence must reach ``min_score`` (a logit).
    """

    name = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        reranker: Reranker,
        min_score: float | None = None,
        max_sentences: int = 3,
        candidates: int = CANDIDATES,
    ) -> None:
        self.embedder = embedder
        self.reranker = reranker
        self.min_score = DEFAULT_MIN_SCORE if min_score is None else min_score
        self.max_sentences = max_sentences
        self.candidates = candidates

    def score(
        self, query: str, passages: Sequence[Passage], question: str | None = None
    ) -> tuple[list[Scored], Vectors]:
        """The best candidate sentences judged by the cross-encoder (best first), and vectors.

        ``query`` (with context carried over from earlier turns) preselects candidates;
        the cross-encoder judges them against the ``question`` (its pronouns resolved),
        which the carried-over names would only distract ("how far did it fly?").
        """
        sentences = [s for s in passage_sentences(passages) if not looks_like_heading(s.text)]
        if not sentences:
            return [], {}
        vectors = self.embedder.encode([query] + [s.text for s in sentences])
        dense = vectors[1:] @ vectors[0]
        q_terms = content_terms(query)
        cheap = []
        for sent, d in zip(sentences, dense.tolist(), strict=True):
            overlap = len(q_terms & content_terms(sent.text)) / len(q_terms) if q_terms else 0.0
            cheap.append((0.75 * float(d) + 0.25 * overlap - 0.005 * sent.rank, sent, float(d)))
        cheap.sort(key=lambda c: -c[0])
        top = cheap[: self.candidates]
        logits = self.reranker.score(question or query, [sent.text for _, sent, _ in top])
        scored = [
            Scored(sent, float(logit), d, c)
            for (c, sent, d), logit in zip(top, logits.tolist(), strict=True)
        ]
        scored.sort(key=lambda s: -s.score)
        return scored, {s.key: v for s, v in zip(sentences, vectors[1:], strict=True)}

    def select(self, scored: list[Scored], vectors: Vectors, question: str = "") -> list[Scored]:
        """The best sentence and runners-up that support it and add something new."""
        if not scored or scored[0].score < self.min_score:
            return []
        gap = RUNNER_UP_GAP_EXPLAIN if asks_for_explanation(question) else RUNNER_UP_GAP
        floor = max(scored[0].score - gap, self.min_score - RUNNER_UP_SLACK)
        chosen = [scored[0]]
        for cand in scored[1:]:
            if len(chosen) >= self.max_sentences or cand.score < floor:
                break
            vec = vectors[cand.sentence.key]
            if all(float(vec @ vectors[c.sentence.key]) < REDUNDANT for c in chosen):
                chosen.append(cand)
        return chosen

    def generate(
        self, question: str, query: str, passages: Sequence[Passage]
    ) -> Iterator[str | Answer]:
        """Yield the answer sentence by sentence, then the full Answer."""
        missing = missing_entities(question, passages)
        chosen = [] if missing else self.select(*self.score(query, passages, question), question)
        if not chosen:
            text = refusal_text(passages, missing)
            yield text
            yield Answer(
                text=text, refused=True, query=query, passages=tuple(passages), answerer=self.name
            )
            return
        citations: list[Citation] = []
        pieces: list[str] = []
        for item in chosen:
            n = len(citations) + 1
            citations.append(citation(n, item.sentence, _sigmoid(item.score)))
            piece = with_marker(item.sentence.text, n)
            pieces.append(piece)
            yield piece if len(pieces) == 1 else " " + piece
        yield Answer(
            text=" ".join(pieces),
            citations=tuple(citations),
            refused=False,
            query=query,
            passages=tuple(passages),
            answerer=self.name,
        )


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))
