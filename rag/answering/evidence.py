"""Evidence for an answer: sentences judged for a question, what type of thing they name,
the entity several of them share, and the trace of which were kept and why."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..text import (
    ANSWER_TYPES,
    ASKED_TYPE,
    GENERIC,
    PERSON_NOUNS,
    TITLES,
    names,
    stopwords,
    words,
)
from ..types import Candidate, Passage
from .citations import Sentence, passage_sentences
from .question import Question


@dataclass(frozen=True)
class Scored:
    sentence: Sentence
    score: float  # the cross-encoder's logit (plus the entity bonus when ranking)
    dense: float  # cosine similarity with the query
    cheap: float  # the preselection score: similarity and word overlap
    part: str = ""  # the outlet of the part it was judged for
    logit: float = 0.0  # the cross-encoder's logit alone


def bridge_entity(
    q: Question, judged: Sequence[Scored], pool: Sequence[Sentence] = (), clear_lead: float = 2.0
) -> tuple[str, int, bool] | None:
    """The new name the judged sentences share, in its fullest form ("Sam Altman", where
    they say "Altman"; "Sam Bankman-Fried" for "SBF"), with the number of articles that name
    it and whether it clearly leads (named, weighted by the sentences' logits, at least
    ``clear_lead`` times as much as any other); a person's name when the question asks for a
    person; None when they name none."""
    asked = set(words(q.plain))
    every = list(pool) or [s.sentence for s in judged]
    full: list[str] = []  # every new name of the passages, longest first
    for sent in every:
        for found in names(sent.text):
            for name in (found, _person_in(found)):
                if name and not set(words(name)) <= asked and name not in full:
                    full.append(name)
    # A person's full name before longer runs of capitalised words ("OpenAI CEO Sam Altman").
    full.sort(key=lambda n: (not _answers(n, True), -len(n.split())))

    def canonical(name: str) -> str:
        # The fullest name that ends with this one ("Bankman-Fried" -> "Sam Bankman-Fried"),
        # or whose initials an acronym spells ("SBF").
        for f in full:
            if f == name or f.endswith(" " + name):
                return f
            if name.isupper() and len(name) > 1 and f != name and _initials(f) == name:
                return f
        return name

    weight: dict[str, float] = {}
    docs: dict[str, set[str]] = {}
    for s in judged:
        for name in {canonical(n) for n in names(s.sentence.text)}:
            if set(words(name)) <= asked:
                continue
            weight[name] = weight.get(name, 0.0) + max(0.0, s.logit + 10.0)
            docs.setdefault(name, set()).add(s.sentence.passage.doc_id)
    if asks_person(q):
        weight = {n: w for n, w in weight.items() if _answers(n, True)} or weight
    if not weight:
        return None
    bridge = max(weight, key=lambda n: (len(docs[n]), weight[n]))
    rival = max((w for n, w in weight.items() if n != bridge), default=0.0)
    return bridge, len(docs[bridge]), weight[bridge] >= clear_lead * rival


# A word that can be a surname: "Altman", "Bankman-Fried", "O’Brien"; not "OpenAI" or "iPhone".
_SURNAME = re.compile(r"[A-Z](?:['’][A-Z])?[a-z]+(?:-[A-Z][a-z]+)?")


def full_form(name: str, passages: Sequence[Passage]) -> str:
    """The full name the passages give most often for a single-word ``name`` ("Sam Altman"
    for "Altman"), "" when they give none."""
    counts: dict[str, int] = {}
    for sent in passage_sentences(passages):
        for n in names(sent.text):
            person = _person_in(n) if n.endswith(" " + name) else ""
            if person:
                counts[person] = counts.get(person, 0) + 1
    return max(counts, key=lambda n: (counts[n], -len(n))) if counts else ""


def _person_in(name: str) -> str:
    """The longest person's name that ends a run of capitalised words ("Sam Altman" in
    "OpenAI CEO Sam Altman"), "" for none."""
    parts = name.split()
    for i in range(len(parts) - 1):
        tail = " ".join(parts[i:])
        if _answers(tail, True):
            return tail
    return ""


def short_names(q: Question, passages: Sequence[Passage], limit: int = 2) -> list[str]:
    """The single-word names of the passages that none of them spells out in full ("Altman"
    where none says "Sam Altman"), not in the question, most often named first: the
    surnames whose full form a question about a person may need looked up."""
    asked = set(words(q.plain))
    count: dict[str, int] = {}
    spelled: set[str] = set()
    for sent in passage_sentences(passages):
        for n in names(sent.text):
            parts = n.split()
            if len(parts) >= 2:
                spelled.add(parts[-1])
            elif _SURNAME.fullmatch(n) and n.lower() not in asked:
                count[n] = count.get(n, 0) + 1
    todo = [n for n in count if n not in spelled and n.lower() not in stopwords()]
    return sorted(todo, key=lambda n: -count[n])[:limit]


def _initials(name: str) -> str:
    return "".join(p[0] for p in re.split(r"[\s-]+", name) if p[:1].isupper())


def asks_person(q: Question) -> bool:
    """ "Who ...?", "Which individual ...?": the answer is a person."""
    return q.asks == "who" or bool(set(words(q.plain)[1:3]) & PERSON_NOUNS)


def add_bridge_entity(
    q: Question,
    judged: list[Scored],
    chosen: list[Scored],
    why: dict[tuple[str, int, int], str],
    pool: Sequence[Sentence] = (),
    clear_lead: float = 2.0,
) -> str:
    """For an entity question, make sure the answer names the entity the supporting
    sentences share ("Which company ...?" -> the one they all name), in its fullest form.

    Returns the name when the answer can open with it: a who/which question whose quotes
    name it, and either two articles share it or it is the only new name the best quote
    holds; "" otherwise."""
    if q.kind != "entity" or not judged or ASKED_TYPE.get(q.asks) is not None:
        return ""  # a date, an amount or a number answers itself: no name to add
    found = bridge_entity(q, judged, pool, clear_lead)
    if found is None:
        return ""
    bridge, shared, clear = found
    named = any(names_asked_type(q, c.sentence.text) for c in chosen)
    asked = set(words(q.plain))
    top = [n for n in names(chosen[0].sentence.text) if not set(words(n)) <= asked]
    lone = len(top) == 1 and (top[0] == bridge or bridge.endswith(" " + top[0]))
    person = asks_person(q)
    # The quotes call the person by surname only ("Altman"): quote where it is spelled out.
    surname = person and any(
        bridge.endswith(" " + n) for c in chosen for n in names(c.sentence.text)
    )
    # Shared by two articles, or the only candidate when the answer names none yet.
    if (shared >= 2 or not named or surname) and not any(bridge in c.sentence.text for c in chosen):
        _quote_holder(bridge, judged, chosen, why, pool)
    if not any(bridge in c.sentence.text for c in chosen):
        return ""  # a name no quote spells is not given
    # A person's name may stand alone in the best quote, or clearly lead the judged ones; a
    # thing's is shared by two articles.
    enough = shared >= 2 or (person and (lone or clear))
    return bridge if enough and _answers(bridge, person) else ""


def _answers(name: str, person: bool) -> bool:
    """A name fit to open an answer: no function word or generic word in it ("Because FTX",
    "CEO of Binance"), and for a person a full name (two capitalised words, no acronym, no
    title: "Chidi Okonjo", not "Councillor Chidi Okonjo")."""
    parts = name.split()
    stop = stopwords()
    if any(p.lower() in stop or p.lower() in GENERIC for p in parts):
        return False
    if person:
        return (
            len(parts) >= 2
            and all(p[:1].isupper() and not p.isupper() for p in parts)
            and not any(p.lower().rstrip(".") in TITLES for p in parts)
        )
    return True


def _quote_holder(
    bridge: str,
    judged: list[Scored],
    chosen: list[Scored],
    why: dict[tuple[str, int, int], str],
    pool: Sequence[Sentence],
) -> None:
    """Quote the best judged sentence that spells out ``bridge``, or else the first
    passage sentence that does (in retrieval order)."""
    holders = sorted((s for s in judged if bridge in s.sentence.text), key=lambda s: -s.logit)
    if holders:
        chosen.insert(0, holders[0])
        why[holders[0].sentence.key] = f"names {bridge}"
        return
    for sent in list(pool) or [s.sentence for s in judged]:
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
