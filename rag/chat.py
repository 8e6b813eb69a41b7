"""Chat history and follow-ups: turn a follow-up question into a standalone query.

Two QueryRewriters (``rag.protocols``): :class:`RuleRewriter`, offline, and
:class:`LLMRewriter`, which asks the LLM answerer's chat model and falls back to the rules.
Without an LLM, a follow-up that leans on earlier turns ("What did he say about
Russia?") carries over the named entities and topic words of the previous turns,
so retrieval searches for "What did he say about Russia? Antony Blinken ...".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .answering.prompts import clean_query, condense_messages
from .errors import LLMError, QuestionError
from .text import (
    ANAPHORA,
    PERSONAL_PRONOUN,
    PRONOUNS,
    is_refusal,
    names,
    stopwords,
    strip_markers,
    words,
)
from .types import Answer

if TYPE_CHECKING:
    from .answering.llm import LLMAnswerer

Turn = tuple[str, str]
History = Sequence[Any]


class RuleRewriter:
    """Carries the names and topic words of the previous turn into a follow-up (no LLM)."""

    name = "rules"

    def rewrite(self, question: str, history: Sequence[Turn]) -> str:
        return condense(question, history)


class LLMRewriter:
    """The chat model rewrites the follow-up; the rules when it fails or says nothing."""

    name = "llm"

    def __init__(self, answerer: LLMAnswerer) -> None:
        self.answerer = answerer

    def rewrite(self, question: str, history: Sequence[Turn]) -> str:
        turns = list(history)
        try:
            reply = self.answerer.invoke(condense_messages(question, turns))
        except LLMError:
            return condense(question, turns)
        return clean_query(reply) or condense(question, turns)


def normalize_history(history: History | None) -> list[Turn]:
    """Accept (question, answer) pairs, Answer objects, or chat messages with role/content."""
    if not history:
        return []
    if isinstance(history, str | bytes) or not isinstance(history, Iterable):
        raise QuestionError(
            "history must be a list of (question, answer) pairs or {'role': ..., 'content': "
            f"...}} messages, not {type(history).__name__}"
        )
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
        raise QuestionError(
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


def _answer_text(answer: str) -> str:
    """What a follow-up may take names and topics from: nothing of a refusal."""
    return "" if is_refusal(answer) else answer


def unresolved_reference(question: str) -> str | None:
    """The word ("it", "he") a question leans on when it says nothing else to search for:
    "Who reported it?" asked first names nothing the articles could be searched for."""
    ws = words(question)
    pointing = [w for w in ws if w in PRONOUNS]
    content = [w for w in ws if w not in stopwords() and w not in ANAPHORA and len(w) > 1]
    return pointing[0] if pointing and len(content) <= 1 else None


def needs_context(question: str) -> bool:
    """A question that refers back ("he", "that") or is too short to stand alone."""
    ws = words(question)
    return bool(ANAPHORA.intersection(ws)) or len(ws) <= 3


def condense(question: str, history: Iterable[Turn]) -> str:
    """A standalone search query for ``question`` given earlier turns (no LLM)."""
    turns = list(history)
    if not turns or not needs_context(question):
        return question
    last_q, last_a = turns[-1]
    last_a = _answer_text(last_a)
    found = [n for n in names(last_q) + names(last_a) if n.lower() not in question.lower()]
    # The names the previous question asked about come first, then those of its answer.
    seen: list[str] = []
    for name in found:
        if not any(name in s for s in seen):
            seen.append(name)
    # The topic of the previous question ("missile", "fly") as well as its names.
    asked = {w.lower() for w in words(question)}
    topic = [
        re.sub(r"['’]s$", "", w)
        for w in words(strip_markers(last_q))
        if w not in stopwords() and w not in asked and not any(w in s.lower() for s in seen)
    ]
    context = " ".join(seen[:6] + list(dict.fromkeys(topic))[:6])
    return f"{question} {context}".strip()


def resolve_pronouns(question: str, history: Iterable[Turn]) -> str:
    """The question with "he"/"she" replaced by the name the previous turn was about,
    or followed by the previous question's topic words when it leans on "it"/"that".

    Used to judge candidate sentences: "How old is he?" must be judged as a question
    about the person, not as one that merely mentions the earlier turn's names.
    """
    turns = list(history)
    if not turns or not needs_context(question):
        return question
    last_q, last_a = turns[-1]
    last_a = _answer_text(last_a)
    people = [n for n in names(last_a) + names(last_q) if len(n.split()) >= 2]
    if not PERSONAL_PRONOUN.search(question) or not people:
        # "Where did it come down?": say what "it" was about, in the earlier question's words.
        asked = set(words(question))
        topic = [w for w in words(strip_markers(last_q)) if w not in stopwords() and w not in asked]
        return f"{question} ({' '.join(dict.fromkeys(topic))})" if topic else question
    name = people[0]

    def swap(m: re.Match[str]) -> str:
        word = m.group(1).lower()
        return f"{name}'s" if word in ("his", "hers") else name

    return PERSONAL_PRONOUN.sub(swap, question, count=1)
