"""What a question asks: its kind, the parts it names, and words matched despite typos.

``analyze("Did both The Verge and Wired report ...?", outlets)`` finds the outlets it names
(each a part that needs its own evidence), whether it is a yes/no, entity, summary or
explanation question, and whether it orders things in time.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..dates import dates_in
from ..text import CHOICES, content_words, stem, strip_filler, words

# The first words of a question, mapped to the kind of answer it wants.
_ENTITY = re.compile(
    r"^\s*(?:(?:and|so|then|but)\s+)?(?:(?:on|in|at|by|for|from|since|until|to)\s+)?(?P<w>who|whom|whose|which|where|when|what\s+(?:time|day|date|year|"
    r"month|company|companies|firm|organi[sz]ation|country|city|team|person|player|network|"
    r"platform|brand|group|agency|event|name|product|app|service|state|nation|website|show|"
    r"film|movie|book|band|club|school|university|court|party|individual|entity)"
    r"|how\s+(?:many|much|far|long|old|big|tall|often))\b",
    re.IGNORECASE,
)
_YES_NO = re.compile(
    r"^\s*(?:and\s+|so\s+)?(?:did|does|do|is|was|were|are|has|have|had|can|could|will|would|"
    r"should)\b",
    re.IGNORECASE,
)
# "Between the report from A and the one from B, is there ...?", "After A reported X, did B
# ...?": a yes/no question behind a leading clause.
_YES_NO_LATE = re.compile(
    r"^\s*(?:between|after|before|following|considering|given|comparing|while|in|according to|"
    r"based on)\b[^?]*?,\s*(?:and\s+)?(?:did|does|do|is|was|were|are|has|have|had|can|could|"
    r"will|would|should)\b",
    re.IGNORECASE,
)
_SUMMARY = re.compile(
    r"^\s*(?:please\s+)?(?:summari[sz]e|sum up|give (?:me )?(?:a |the )?(?:summary|gist|overview)"
    r"|what(?:'s| is| are)\s+(?:the|this|that|these)\s+(?:\w+\s+){0,4}?(?:article|story|report|"
    r"piece|news)s?\s+(?:about|on)\b|what\s+(?:does|do)\s+(?:the|this)\s+(?:\w+\s+){0,4}?"
    r"(?:article|story|report|piece)s?\s+(?:say|cover|report)\s*\??\s*$|tl;?dr)",
    re.IGNORECASE,
)
_EXPLAIN = re.compile(
    r"^\s*(?:why|how come|explain|describe)\b"
    r"|\b(?:significan\w*|notable|noteworthy|important|reason)\b",
    re.IGNORECASE,
)
_TEMPORAL = re.compile(r"\b(?:before|after|earlier|later|prior to|since|then|first)\b", re.I)
_QUOTES = "'\"‘’“”"
# A yes/no question that asserts a negation or a change ("did X fail to ...", "was it
# inconsistent", "has it changed") is answered "no" when its parts are supported.
_NEGATED = re.compile(
    r"\b(?:not|no|never|fail\w*|inconsisten\w*|differ\w*|chang\w*|contradict\w*|"
    r"lack\w*|without|worse\w*|declin\w*)\b|n't\b",
    re.IGNORECASE,
)


# "consistent or inconsistent", either way round.
_CHOICE = re.compile(
    r"\b(?:" + "|".join(rf"{a}\s+or\s+{b}|{b}\s+or\s+{a}" for a, b in CHOICES) + r")\b",
    re.IGNORECASE,
)


# "Between the Gazette's story and the Ledger's, which narrative involves ...?": the answer
# is one of the outlets the question names.
_WHICH_SOURCE = re.compile(
    r"\bwhich\s+(?:of\s+(?:the|these|those)\s+(?:two\s+)?(?:articles|reports|stories|sources|"
    r"outlets|publications|pieces|narratives|accounts)|(?:news\s+)?(?:narrative|article|story|"
    r"report|piece|outlet|publication|source|account|one))\b",
    re.IGNORECASE,
)


def choice_of(question: str) -> tuple[str, ...]:
    """The two answers of an either-or question, as (what a yes says, what a no says)."""
    m = _CHOICE.search(question)
    if m is None:
        return ()
    said = {w.lower() for w in m.group().split()}
    return next(pair for pair in CHOICES if set(pair) <= said)


# Words that speak of the articles rather than of what they say: a part made of them
# ("according to articles from both Fortune and") asks nothing of its own.
_META = frozenset(
    [
        "article",
        "articles",
        "report",
        "reports",
        "reported",
        "reporting",
        "according",
        "both",
        "piece",
        "pieces",
        "story",
        "stories",
        "outlet",
        "source",
        "sources",
        "news",
        "published",
        "publication",
        "suggest",
        "suggests",
        "indicate",
        "indicates",
        "mention",
        "mentions",
        "covered",
        "coverage",
        "individual",
        "company",
        "person",
        "one",
        "another",
        # How a question says an outlet wrote about something, not what it wrote.
        "from",
        "across",
        "discussed",
        "discusses",
        "discussing",
        "highlighted",
        "highlights",
        "highlighting",
        "featured",
        "featuring",
        "described",
        "describes",
        "detailed",
        "detailing",
    ]
)


@dataclass(frozen=True)
class Part:
    """One thing a multi-part question names: an outlet, with the words asked of it."""

    text: str
    sources: tuple[str, ...]
    dates: tuple[dt.date, ...] = ()  # publication dates its own words give ("on 2023-11-24")


@dataclass(frozen=True)
class Question:
    """A question as the answerer sees it."""

    text: str  # as asked (pronouns resolved)
    plain: str  # without filler ("in the article")
    kind: str  # "entity", "yes_no", "summary", "explain" or "other"
    asks: str  # the wh-phrase of an entity question ("who", "what company", "how many")
    parts: tuple[Part, ...] = ()  # one per outlet mention (a single one included)
    clauses: tuple[str, ...] = ()  # the questions a compound question joins
    temporal: bool = False
    negated: bool = False
    choice: tuple[str, ...] = ()  # ("consistent", "inconsistent") of an either-or question
    # "which narrative involves ...?" of a question whose answer is one of its outlets
    which_source: str = ""

    @property
    def multi(self) -> bool:
        return len(self.parts) >= 2


def kind_of(question: str) -> tuple[str, str]:
    """The kind of answer wanted, and the wh-phrase for entity questions."""
    if _SUMMARY.search(question):
        return "summary", ""
    if m := _ENTITY.search(question):
        return "entity", " ".join(m.group("w").lower().split())
    if _EXPLAIN.search(question):
        return "explain", ""
    if _YES_NO.search(question) or _YES_NO_LATE.search(question):
        return "yes_no", ""
    return "other", ""


def outlet_mentions(question: str, outlets: Iterable[str]) -> list[tuple[int, int, str]]:
    """(start, end, outlet) of each outlet the question names, in order, not overlapping.

    An outlet's name is matched as it is capitalised ("The Week", "the Verge"), so "this
    week" or "the age of" names no outlet; a leading "The" may be left out or lower case.
    """
    found: list[tuple[int, int, str]] = []
    for outlet in sorted({o.strip() for o in outlets if o.strip()}, key=len, reverse=True):
        core = re.sub(r"^the\s+", "", outlet, flags=re.IGNORECASE)
        if len(core) < 3:
            continue
        pattern = rf"(?<!\w)(?:(?i:the)\s+)?{re.escape(core)}(?!\w)"
        if not any(ch.isupper() for ch in core):  # an all-lower-case name: match any case
            pattern = rf"(?i){pattern}"
        for m in re.finditer(pattern, question):
            if not any(s < m.end() and m.start() < e for s, e, _ in found):
                found.append((m.start(), m.end(), outlet))
    return sorted(found)


def split_parts(question: str, outlets: Iterable[str], min_words: int = 2) -> tuple[Part, ...]:
    """The question's parts, one per outlet mention, each with the words asked of it.

    A part's words run from its outlet's mention to the next one; a part with fewer than
    ``min_words`` content words shares the next part's words ("'The Age' and 'TechCrunch'
    articles imply ..."), and the last one's are carried back to any still empty.
    """
    mentions = outlet_mentions(question, outlets)
    if not mentions:
        return ()
    spans: list[tuple[str, str]] = []
    for i, (start, _, outlet) in enumerate(mentions):
        begin = 0 if i == 0 else start
        end = mentions[i + 1][0] if i + 1 < len(mentions) else len(question)
        spans.append((outlet, question[begin:end]))
    outlet_words = {w for o in outlets for w in words(o)} | _META

    def content(text: str) -> int:
        return len([w for w in content_words(text) if w not in outlet_words])

    years = [d.year for d in dates_in(question)]
    own_dates = [tuple(dates_in(t, years[0] if years else None)) for _, t in spans]
    texts = [t for _, t in spans]
    for i in range(len(texts) - 2, -1, -1):
        if content(texts[i]) < min_words:
            texts[i] = texts[i] + texts[i + 1]
    if content(texts[-1]) < min_words:
        texts[-1] = question
    parts = [
        Part(" ".join(t.strip(" ,;" + _QUOTES).split()), (o,), d)
        for (o, _), t, d in zip(spans, texts, own_dates, strict=True)
    ]
    return tuple(parts)


# "..., and what was ...?": a second question joined to the first.
_CLAUSE = re.compile(
    r",?\s+(?:and|but|or)\s+(?=(?:what|who|whom|whose|which|where|when|why|how|did|does|do|"
    r"is|was|were|are|has|have|had|can|will|would)\b)",
    re.IGNORECASE,
)


def clauses(question: str) -> tuple[str, ...]:
    """The questions a compound question joins ("Who is X, and what is his salary?"), each
    asking about something (a content word); a single question gives ()."""
    found = [c.strip(" ,;?") for c in _CLAUSE.split(question)]
    found = [c for c in found if content_words(c)]
    return tuple(f"{c}?" for c in found) if len(found) >= 2 else ()


def analyze(question: str, outlets: Sequence[str] = ()) -> Question:
    """Kind, parts and flags of ``question`` (``outlets``: the outlet names in the index)."""
    plain = strip_filler(question)
    kind, asks = kind_of(plain)
    parts = split_parts(plain, outlets)
    return Question(
        text=question,
        plain=plain,
        kind=kind,
        asks=asks,
        parts=parts,
        clauses=() if len(parts) >= 2 else clauses(plain),
        temporal=bool(_TEMPORAL.search(plain)),
        # The choice ("consistent or inconsistent") asserts neither.
        negated=bool(_NEGATED.search(_CHOICE.sub(" ", plain))),
        choice=choice_of(plain),
        which_source=_which_source(plain) if len(parts) >= 2 else "",
    )


def _which_source(question: str) -> str:
    m = _WHICH_SOURCE.search(question)
    return question[m.start() :].strip() if m else ""


# ------------------------------------------------------------------------ typo tolerance
# Words that mean the same place or people, so "American" finds "United States".
_ALIASES = {
    "american": ("us", "u.s", "united states", "america", "washington"),
    "americans": ("us", "united states", "america"),
    "america": ("us", "united states"),
    "us": ("united states", "american", "america"),
    "british": ("uk", "britain", "united kingdom"),
    "britain": ("uk", "united kingdom", "british"),
    "uk": ("britain", "united kingdom", "british"),
    "pyongyang": ("north korea",),
    "dprk": ("north korea",),
}


class Vocabulary:
    """The words of some texts, for matching question words despite typos and aliases."""

    def __init__(self, texts: Iterable[str]) -> None:
        all_words = [w for t in texts for w in words(t)]
        self.words: set[str] = set(all_words)
        self.stems = {stem(w) for w in self.words}
        self.text = " " + " ".join(all_words) + " "
        self._matched: dict[str, str | None] = {}
        self._by_len: dict[int, list[str]] = {}
        for w in self.words:
            self._by_len.setdefault(len(w), []).append(w)

    def match(self, word: str) -> str | None:
        """The vocabulary word that ``word`` stands for, or None."""
        word = word.lower()
        if word not in self._matched:
            self._matched[word] = self._match(word)
        return self._matched[word]

    def _match(self, word: str) -> str | None:
        if word in self.words or stem(word) in self.stems:
            return word
        for alias in _ALIASES.get(word, ()):
            if f" {alias} " in self.text:
                return alias
        if len(word) < 5:
            return None
        from rapidfuzz import process
        from rapidfuzz.distance import DamerauLevenshtein

        # A typo first (one edit, same length or one letter apart), then an ending
        # ("Korean" for "Korea", "americans" for "american").
        near = [
            w for n in (len(word) - 1, len(word), len(word) + 1) for w in self._by_len.get(n, ())
        ]
        hit = (
            process.extractOne(word, near, scorer=DamerauLevenshtein.distance, score_cutoff=1)
            if near
            else None
        )
        if hit is not None and len(hit[0]) >= 5:
            return str(hit[0])
        for n in range(len(word) - 3, len(word) + 4):
            for w in self._by_len.get(n, ()):
                if len(w) >= 5 and (w.startswith(word) or word.startswith(w)):
                    return w
        return None

    def covers(self, phrase: str) -> bool:
        """Every word of ``phrase`` is matched."""
        ws = words(phrase)
        return bool(ws) and all(self.match(w) is not None for w in ws)

    def correct(self, text: str) -> str:
        """``text`` with misspelt words replaced by the vocabulary's spelling."""

        def fix(m: re.Match[str]) -> str:
            word = m.group(0)
            low = word.lower()
            if len(low) < 5 or low in self.words or stem(low) in self.stems:
                return word
            found = self.match(low)
            if found is None or found == low or " " in found or found.startswith(low):
                return word
            return found.capitalize() if word[:1].isupper() else found

        return re.sub(r"[^\W\d_]+", fix, text)
