"""Chat history and follow-ups: turn a follow-up question into a standalone query.

Without an LLM, a follow-up that leans on earlier turns ("What did he say about
Russia?") carries over the named entities and topic words of the previous turns,
so retrieval searches for "What did he say about Russia? Antony Blinken ...".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .answering.citations import strip_markers
from .answering.text import words
from .types import Answer

Turn = tuple[str, str]
History = Sequence[Any]

# Words that point back to something said before.
_ANAPHORA = frozenset(
    [
        "he",
        "him",
        "his",
        "she",
        "her",
        "hers",
        "they",
        "them",
        "their",
        "theirs",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "then",
        "such",
        "same",
        "former",
        "latter",
        "he's",
        "she's",
        "they're",
        "it's",
    ]
)
_CAPITALISED = re.compile(
    r"\b(?:[A-Z][\w’'-]+|[A-Z]{2,})(?:\s+(?:of\s+|the\s+)?(?:[A-Z][\w’'-]+|[A-Z]{2,}))*"
)
_SENTENCE_START_NOISE = frozenset(
    [
        "The",
        "A",
        "An",
        "In",
        "On",
        "At",
        "As",
        "After",
        "Before",
        "During",
        "While",
        "When",
        "What",
        "Who",
        "Why",
        "How",
        "Which",
        "Where",
        "It",
        "He",
        "She",
        "They",
        "This",
        "That",
        "These",
        "Those",
        "There",
        "Here",
        "And",
        "But",
        "Or",
        "If",
        "So",
        "According",
        "Additionally",
        "However",
        "Meanwhile",
    ]
)


def normalize_history(history: History | None) -> list[Turn]:
    """Accept (question, answer) pairs, Answer objects, or chat messages with role/content."""
    if not history:
        return []
    turns: list[Turn] = []
    pending_user: str | None = None
    for item in history:
        if isinstance(item, Mapping):
            role, content = item.get("role"), _text(item.get("content"))
            if role == "user":
                pending_user = content
            elif role == "assistant":
                turns.append((pending_user or "", content))
                pending_user = None
            continue
        if isinstance(item, (tuple, list)) and len(item) == 2:
            turns.append((_text(item[0]), _text(item[1])))
            continue
        raise TypeError(
            "history items must be (question, answer) pairs or {'role': ..., 'content': ...} "
            f"messages, not {type(item).__name__}"
        )
    if pending_user:
        turns.append((pending_user, ""))
    return turns


def _text(value: Any) -> str:
    if isinstance(value, Answer):
        return value.text
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):  # multimodal message content
        return " ".join(_text(v.get("text") if isinstance(v, Mapping) else v) for v in value)
    return str(value)


def entities(text: str) -> list[str]:
    """Capitalised names in order of first appearance ("Antony Blinken", "Seoul")."""
    found: list[str] = []
    for match in _CAPITALISED.finditer(strip_markers(text)):
        name = match.group().strip()
        parts = name.split()
        while parts and parts[0] in _SENTENCE_START_NOISE:
            parts = parts[1:]
        name = re.sub(r"['’]s$", "", " ".join(parts))
        if len(name) > 1 and name not in found:
            found.append(name)
    return found


def needs_context(question: str) -> bool:
    """A question that refers back ("he", "that") or is too short to stand alone."""
    ws = words(question)
    return bool(_ANAPHORA.intersection(ws)) or len(ws) <= 3


def condense(question: str, history: Iterable[Turn]) -> str:
    """A standalone search query for ``question`` given earlier turns (no LLM)."""
    turns = list(history)
    if not turns or not needs_context(question):
        return question
    last_q, last_a = turns[-1]
    names = [n for n in entities(last_q) + entities(last_a) if n.lower() not in question.lower()]
    # The names the previous question asked about come first, then those of its answer.
    seen: list[str] = []
    for name in names:
        if not any(name in s for s in seen):
            seen.append(name)
    context = " ".join(seen[:6])
    if not context:
        context = strip_markers(last_q)
    return f"{question} {context}".strip()
