"""Evidence for an answer: sentences judged for a question, what type of thing they name,
the entity several of them share, and the trace of which were kept and why."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..text import ANSWER_TYPES, ASKED_TYPE, names, words
from ..types import Candidate
from .citations import Sentence
from .question import Question


@dataclass(frozen=True)
class Scored:
    sentence: Sentence
    score: float  # the cross-encoder's logit (plus the entity bonus when ranking)
    dense: float  # cosine similarity with the query
    cheap: float  # the preselection score: similarity and word overlap
    part: str = ""  # the outlet of the part it was judged for
    logit: float = 0.0  # the cross-encoder's logit alone


def add_bridge_entity(
    q: Question,
    judged: list[Scored],
    chosen: list[Scored],
    why: dict[tuple[str, int, int], str],
    pool: Sequence[Sentence] = (),
) -> None:
    """For an entity question, make sure the answer names the entity the supporting
    sentences share ("Which company ...?" -> the one they all name), in its fullest form
    ("Sam Altman", where the judged sentences say "Altman")."""
    if q.kind != "entity" or not judged:
        return
    asked = set(words(q.plain))
    every = list(pool) or [s.sentence for s in judged]
    full: list[str] = []  # every new name of the passages, longest first
    for sent in every:
        for name in names(sent.text):
            if not set(words(name)) <= asked and name not in full:
                full.append(name)
    full.sort(key=lambda n: -len(n.split()))

    def canonical(name: str) -> str:
        # The longest name that ends with this one ("Bankman-Fried" -> "Sam Bankman-Fried").
        return next((f for f in full if f == name or f.endswith(" " + name)), name)

    weight: dict[str, float] = {}
    docs: dict[str, set[str]] = {}
    for s in judged:
        for name in {canonical(n) for n in names(s.sentence.text)}:
            if set(words(name)) <= asked:
                continue
            weight[name] = weight.get(name, 0.0) + max(0.0, s.logit + 10.0)
            docs.setdefault(name, set()).add(s.sentence.passage.doc_id)
    if not weight:
        return
    bridge = max(weight, key=lambda n: (len(docs[n]), weight[n]))
    # Shared by two articles, or the only candidate when the answer names none yet.
    named = any(names_asked_type(q, c.sentence.text) for c in chosen)
    if len(docs[bridge]) < 2 and named:
        return
    if any(bridge in c.sentence.text for c in chosen):
        return
    holders = [s for s in judged if bridge in s.sentence.text]
    holders.sort(key=lambda s: -s.logit)
    if holders:
        chosen.insert(0, holders[0])
        why[holders[0].sentence.key] = f"names {bridge}"
        return
    for sent in every:  # in retrieval order: the best passage that spells it out
        if bridge in sent.text:
            item = Scored(sent, -12.0, 0.0, 0.0, "", -12.0)
            chosen.insert(0, item)
            why[sent.key] = f"names {bridge}"
            judged.append(item)
            return


def names_asked_type(q: Question, sentence: str) -> bool:
    """The sentence names something of the type the question asks for, and the question
    does not already name it: an age for "how old", a date for "when", a person or thing
    (a name the question does not hold) for "who" and "which"."""
    kind = ASKED_TYPE.get(q.asks)
    if kind is not None:
        found = ANSWER_TYPES[kind].search(sentence)
        if kind == "duration" and not found:  # "how long" is a distance too
            found = ANSWER_TYPES["distance"].search(sentence)
        return bool(found)
    asked = set(words(q.plain))
    return any(not set(words(n)) <= asked for n in names(sentence))


def short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def without(text: str, outlet: str) -> str:
    rest = re.sub(re.escape(outlet), " ", text, flags=re.IGNORECASE)
    return " ".join(rest.replace("''", " ").split()) or text


def spread(
    ranked: list[tuple[float, Sentence, float]],
) -> list[tuple[float, Sentence, float]]:
    """The best sentence of each article first, then the rest in their order."""
    seen: set[str] = set()
    first: list[tuple[float, Sentence, float]] = []
    rest: list[tuple[float, Sentence, float]] = []
    for item in ranked:
        doc = item[1].passage.doc_id
        (rest if doc in seen else first).append(item)
        seen.add(doc)
    return first + rest


def trace_candidates(
    scored: Sequence[Scored], why: dict[tuple[str, int, int], str], dropped: str
) -> tuple[Candidate, ...]:
    out: list[Candidate] = []
    seen: set[tuple[str, int, int, str]] = set()
    for s in scored:
        key = (*s.sentence.key, s.part)
        if key in seen:
            continue
        seen.add(key)
        reason = why.get(s.sentence.key, dropped)
        out.append(
            Candidate(
                text=s.sentence.text,
                doc_id=s.sentence.passage.doc_id,
                start=s.sentence.start,
                end=s.sentence.end,
                score=round(s.logit, 3),
                kept=s.sentence.key in why,
                reason=reason,
                part=s.part,
            )
        )
    return tuple(out)
