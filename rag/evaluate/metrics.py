"""Pure metric functions: retrieval, citations, key phrases, faithfulness, refusals, latency.

They take plain values (passages, citations, strings) so they can be checked on hand-made
inputs. ``None`` means "does not apply to this case" and is left out of averages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from ..text import CLOSERS as _CLOSERS
from ..text import MARKER, NOTE, OPENER, strip_markers
from .suite import Alternatives

_MARKER = re.compile(r"\s*" + MARKER.pattern)
# Typographic variants that should not decide whether a phrase matches.
_FOLD = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\u00a0": " "})


class Located(Protocol):
    """A passage or citation: text with the article it came from."""

    @property
    def doc_id(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def title(self) -> str: ...


def fold(text: str) -> str:
    """Lower case, plain quotes and dashes, single spaces."""
    return " ".join(text.translate(_FOLD).lower().split())


def compact(text: str) -> str:
    """``fold`` without any whitespace, for whitespace-insensitive containment."""
    return "".join(fold(text).split())


def contains(haystack: str, needle: str) -> bool:
    """``needle`` occurs in ``haystack``, ignoring case, whitespace and quote styles."""
    n = compact(needle)
    return bool(n) and n in compact(haystack)


def _same_article(alt: str, item: Located) -> bool:
    return (
        alt == item.doc_id
        or (bool(item.url) and alt == item.url)
        or (bool(item.title) and fold(alt) == fold(item.title))
    )


def passage_matches(group: Alternatives, text: str, item: Located) -> bool:
    """A passage holds a source: it comes from the named article or contains the quote."""
    return any(_same_article(a, item) or contains(text, a) for a in group)


def citation_matches(group: Alternatives, quote: str, item: Located) -> bool:
    """A cited quote supports a source: same article, the quote contains the source text,
    or the quote is a (not tiny) part of a longer expected span."""
    return any(
        _same_article(a, item)
        or contains(quote, a)
        or (len(compact(quote)) >= 20 and contains(a, quote))
        for a in group
    )


def retrieval(
    sources: Sequence[Alternatives], passages: Sequence[tuple[str, Located]], k: int
) -> tuple[float | None, float | None]:
    """Recall@k (share of sources found in the top k) and MRR (1 / rank of the first hit).

    ``passages`` pairs each passage's text with the passage (for its article fields).
    """
    if not sources:
        return None, None
    top = list(passages)[:k]
    found = sum(1 for g in sources if any(passage_matches(g, t, p) for t, p in top))
    rr = 0.0
    for rank, (t, p) in enumerate(top, 1):
        if any(passage_matches(g, t, p) for g in sources):
            rr = 1.0 / rank
            break
    return found / len(sources), rr


def fact_recall(facts: Sequence[str], texts: Iterable[str]) -> float | None:
    """Share of evidence sentences contained (whitespace-insensitive) in some passage."""
    if not facts:
        return None
    pool = [compact(t) for t in texts]
    return sum(1 for f in facts if any(compact(f) in p for p in pool)) / len(facts)


def citations(
    sources: Sequence[Alternatives], cited: Sequence[tuple[str, Located]]
) -> tuple[float | None, float | None]:
    """Precision (cited quotes that hold expected support) and recall (sources cited)."""
    if not sources:
        return None, None
    precision = (
        sum(1 for q, c in cited if any(citation_matches(g, q, c) for g in sources)) / len(cited)
        if cited
        else None
    )
    recall = sum(1 for g in sources if any(citation_matches(g, q, c) for q, c in cited)) / len(
        sources
    )
    return precision, recall


def key_phrases(groups: Sequence[Alternatives], text: str) -> float | None:
    """Share of key phrases (any alternative) found in ``text``, markers ignored, each from
    the start of a word (so "Consistent" is not found in "Inconsistent")."""
    if not groups:
        return None
    plain = fold(strip_markers(text))

    def found(phrase: str) -> bool:
        return bool(phrase) and re.search(r"(?<!\w)" + re.escape(phrase), plain) is not None

    return sum(1 for g in groups if any(found(fold(a)) for a in g)) / len(groups)


def answer_sentences(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """Split an answer at its markers: each piece with the citation numbers that close it.

    ``"It flew 1,100 km [1]. Japan saw it [2]."`` gives ``[("It flew 1,100 km.", (1,)),
    ("Japan saw it.", (2,))]``; trailing text without a marker gets ``()``.
    """
    out: list[tuple[str, tuple[int, ...]]] = []
    pos = 0
    markers = list(_MARKER.finditer(text))
    i = 0
    while i < len(markers):
        nums = [int(markers[i].group(1))]
        end = markers[i].end()
        while i + 1 < len(markers) and markers[i + 1].start() == end:
            i += 1
            nums.append(int(markers[i].group(1)))
            end = markers[i].end()
        closing = end
        while closing < len(text) and text[closing] in _CLOSERS:
            closing += 1
        piece = text[pos : markers[i - len(nums) + 1].start()] + text[end:closing]
        if piece.strip():
            out.append((piece.strip(), tuple(nums)))
        pos = closing
        i += 1
    rest = text[pos:].strip()
    if rest.strip(_CLOSERS + " "):
        out.append((rest, ()))
    return out


def faithfulness(
    text: str,
    quotes: dict[int, str],
    judge: Callable[[str, list[str]], bool] | None = None,
) -> float | None:
    """Share of answer sentences supported by the quotes they cite.

    Without ``judge`` a sentence must be contained in one of its cited quotes (extractive
    answers are verbatim); a ``judge(sentence, quotes)`` decides for generated answers.
    """
    # The answerer's own notes ("The articles from X don't cover this part") quote nothing.
    pieces = [(s, n) for s, n in answer_sentences(OPENER.sub("", text)) if n or not NOTE.match(s)]
    if not pieces:
        return None
    ok = 0
    for sentence, nums in pieces:
        cited = [quotes[n] for n in nums if n in quotes]
        if not cited:
            continue
        if judge is not None:
            ok += judge(sentence, cited)
        else:
            # The full stop after a marker is the answer's, not necessarily the quote's.
            ok += any(contains(q, sentence.rstrip(".")) for q in cited)
    return ok / len(pieces)


def refusals(should_refuse: Sequence[bool], refused: Sequence[bool]) -> dict[str, float | None]:
    """Refusal precision and recall (positive: the case should be refused), false refusal rate."""
    tp = sum(1 for s, r in zip(should_refuse, refused, strict=True) if s and r)
    fp = sum(1 for s, r in zip(should_refuse, refused, strict=True) if r and not s)
    fn = sum(1 for s, r in zip(should_refuse, refused, strict=True) if s and not r)
    answerable = sum(1 for s in should_refuse if not s)
    return {
        "refusal_precision": tp / (tp + fp) if tp + fp else None,
        "refusal_recall": tp / (tp + fn) if tp + fn else None,
        "false_refusal_rate": fp / answerable if answerable else None,
    }


def yes_no(text: str) -> str:
    """ "yes" or "no" when the answer opens with it, else ""."""
    first = fold(strip_markers(text))[:4]
    if first.startswith("yes") and not first[3:4].isalpha():
        return "yes"
    if first.startswith("no") and not first[2:3].isalpha():
        return "no"
    return ""


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100), linearly interpolated; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def mean(values: Iterable[float | None]) -> float | None:
    """Average of the values that apply."""
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None
