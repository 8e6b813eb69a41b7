"""Small text helpers shared by the answerers and the follow-up logic."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

from ..types import Passage

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")


@functools.lru_cache(maxsize=1)
def _tools() -> tuple[Any, frozenset[str]]:
    import Stemmer
    from bm25s.stopwords import STOPWORDS_EN

    return Stemmer.Stemmer("english"), frozenset(STOPWORDS_EN)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def content_terms(text: str) -> set[str]:
    """Stemmed words that carry meaning (no stopwords), for overlap scores."""
    stemmer, stop = _tools()
    return {stemmer.stemWord(w) for w in words(text) if w not in stop and len(w) > 1}


def looks_like_heading(sentence: str) -> bool:
    """A subheading line ("Growing North Korea-Russia Ties") is not an answer."""
    return len(sentence) <= 100 and sentence.rstrip()[-1:] not in ".!?\"'”’)"


# Acronyms and words that name no particular thing, so their absence proves nothing.
_GENERIC = frozenset(
    [
        "us",
        "usa",
        "uk",
        "eu",
        "un",
        "i",
        "ai",
        "ceo",
        "what",
        "who",
        "why",
        "how",
        "when",
        "where",
        "which",
        "whose",
        "did",
        "does",
        "do",
        "is",
        "are",
        "was",
        "were",
        "the",
        "a",
        "an",
        "according",
        "article",
        "articles",
        "report",
        "reported",
        "news",
    ]
)
_NAME = re.compile(
    r"(?<![.!?]\s)(?<!^)\b[A-Z][\w’'&.-]*(?:\s+(?:of\s+|the\s+|de\s+)?[A-Z][\w’'&.-]*)*"
)


def question_entities(question: str) -> list[str]:
    """Capitalised names in a question, except its first word: "Kim Jong Un", "Seoul"."""
    found = []
    for match in _NAME.finditer(question.strip()):
        name = re.sub(r"(['’]s|[.’'])$", "", match.group().strip())
        if name and name.lower() not in _GENERIC and len(name) > 1:
            found.append(name)
    return found


def missing_entities(question: str, passages: Sequence[Passage]) -> list[str]:
    """Names the question asks about that no retrieved passage, title or outlet mentions.

    Any missing full name ("Kim Jong Un") counts; single capitalised words ("Seoul",
    "American") count only when none of them is found, since one of them alone may be an
    adjective or spelled differently in the articles ("American" vs "US").
    """
    if not passages:
        return []
    haystack = " ".join(f"{p.title} {p.source} {p.text}" for p in passages).lower()
    found_words = set(words(haystack))
    names: list[str] = []
    for name in question_entities(question):
        if name not in names:
            names.append(name)
    missing_full: list[str] = []
    singles: list[tuple[str, bool]] = []
    for name in names:
        parts = [w for w in words(name) if w not in _GENERIC]
        if not parts:
            continue
        present = all(w in found_words or w in haystack for w in parts)
        if len(parts) > 1:
            if not present:
                missing_full.append(name)
        else:
            singles.append((name, present))
    if singles and not any(present for _, present in singles):
        missing_full.extend(name for name, _ in singles)
    return missing_full
