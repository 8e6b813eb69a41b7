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

    Returned only when most of what the question names is missing (full names weigh
    double): a question about one absent person ("What did Kim Jong Un say?") is outside
    the articles, while a long question naming five things of which one is spelled
    differently, or is an adjective ("American"), is not.
    """
    if not passages:
        return []
    haystack = " ".join(f"{p.title} {p.source} {p.text}" for p in passages).lower()
    names: list[str] = []
    for name in question_entities(question):
        if name not in names and any(w not in _GENERIC for w in words(name)):
            names.append(name)
    missing = [
        name for name in names if not all(w in haystack for w in words(name) if w not in _GENERIC)
    ]
    # A full name ("Pamela Anderson") says more than one capitalised word, so it weighs more.
    total = sum(_weight(n) for n in names)
    return missing if 2 * sum(_weight(n) for n in missing) > total else []


def _weight(name: str) -> int:
    return 2 if len(name.split()) > 1 else 1
