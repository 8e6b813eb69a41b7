"""A synthesized answer over evidence sentences, every sentence checked against its quote.

The extractive answerer decides first: whether to answer at all, and which sentences are
the evidence. The model then writes one to four sentences over those numbered sentences.
Each sentence it writes must cite given evidence (a missing marker is assigned from the
best-supporting evidence sentence) and the cross-encoder must find it supported by what it
cites, with every name and number of it present there. Sentences that fail are flagged in
``Answer.unsupported`` (or dropped); when none survives, the extractive answer stands.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..chunking import sentence_spans
from ..text import MARKER_GROUP, strip_markers, with_marker
from ..types import Citation
from .answerability import name_coverage
from .citations import Sentence, citation
from .evidence import Scored
from .extractive import sigmoid
from .question import Vocabulary

if TYPE_CHECKING:
    from ..protocols import Reranker

# The cross-encoder's logit for (written sentence, cited evidence) from which the sentence
# counts as supported. ms-marco logits above 0 mean "relevant"; a sentence restating its
# quote scores 5-10, one about something else below -5.
SUPPORT_LOGIT = 0.0
MAX_EVIDENCE = 6

NUMBER = re.compile(r"\d{1,3}")  # a citation number inside a marker group
_FIGURE = re.compile(r"\d[\d,.]*\d|\d")


@dataclass(frozen=True)
class Checked:
    """One written sentence: its text without markers, the evidence it cites, and whether
    the evidence supports it."""

    text: str
    cited: tuple[int, ...]  # 1-based numbers into the evidence
    support: float
    supported: bool
    assigned: bool  # the model cited nothing; the numbers were assigned from support


def evidence_sentences(chosen: Sequence[Scored], considered: Sequence[Scored]) -> list[Sentence]:
    """The quoted sentences first, then the best of the rest, once each, at most six."""
    out: list[Sentence] = []
    for s in [*chosen, *sorted(considered, key=lambda s: -s.logit)]:
        fresh = s.sentence.key not in {e.key for e in out} and len(out) < MAX_EVIDENCE
        if fresh and (s in chosen or s.logit >= -5.0):
            out.append(s.sentence)
    return out


def is_opener(text: str) -> bool:
    """A bare "Yes." or "No." (which quotes nothing of its own)."""
    return text.strip().rstrip(".!,").lower() in ("yes", "no")


def unstated(statement: str, quotes: Sequence[str]) -> list[str]:
    """Names and numbers of ``statement`` that none of ``quotes`` holds."""
    missing = name_coverage(statement, Vocabulary(list(quotes)))[1]
    haystack = " ".join(quotes).replace(",", "")
    missing += [f for f in _FIGURE.findall(statement) if f.replace(",", "") not in haystack]
    return missing


def check(reply: str, evidence: Sequence[Sentence], scorer: Reranker) -> list[Checked]:
    """Each sentence of ``reply`` with the evidence it cites and whether that supports it.

    ``scorer.score(query, texts)`` is the cross-encoder (a stand-in in unit tests)."""
    out: list[Checked] = []
    texts = [e.text for e in evidence]
    for start, end in sentence_spans(reply):
        raw = reply[start:end]
        # "6 a.m. [2]." loses its marker, not its full stop: one stop stays.
        plain = re.sub(r"([.!?])\s*\.$", r"\1", " ".join(strip_markers(raw).split()))
        if not plain or not re.search(r"\w", plain):
            continue
        cited = tuple(
            dict.fromkeys(
                int(n)
                for group in MARKER_GROUP.findall(raw)
                for n in NUMBER.findall(group)
                if 1 <= int(n) <= len(evidence)
            )
        )
        logits = [float(x) for x in scorer.score(plain, texts)] if texts else []
        assigned = False
        if not cited and logits:
            best = max(range(len(logits)), key=lambda i: logits[i])
            cited, assigned = (best + 1,), True
        support = max((logits[n - 1] for n in cited), default=-12.0)
        quotes = [texts[n - 1] for n in cited]
        ok = is_opener(plain) or (support >= SUPPORT_LOGIT and not unstated(plain, quotes))
        out.append(Checked(plain, cited, support, ok, assigned))
    return out


def compose(
    checked: Sequence[Checked], evidence: Sequence[Sentence], drop_unsupported: bool = False
) -> tuple[str, list[Citation], list[str]]:
    """The answer text with markers renumbered in order of use, its citations, and the
    sentences flagged unsupported (left out of the text when ``drop_unsupported``)."""
    numbers: dict[int, int] = {}
    citations: list[Citation] = []
    pieces: list[str] = []
    flagged: list[str] = []
    for c in checked:
        if not c.supported and drop_unsupported:
            continue
        marks: list[int] = []
        if not is_opener(c.text):
            for n in c.cited:
                if n not in numbers:
                    numbers[n] = len(citations) + 1
                    citations.append(citation(numbers[n], evidence[n - 1], sigmoid(c.support)))
                marks.append(numbers[n])
        body = c.text if c.text[-1:] in '.!?"”’)' else c.text + "."
        piece = with_marker(body, marks) if marks else body
        pieces.append(piece)
        if not c.supported:
            flagged.append(piece)
    return " ".join(pieces), citations, flagged
